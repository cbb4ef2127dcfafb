//! Runs of plain string bytes: neither quote, backslash nor control character. JSON and
//! COPY text both write such bytes as they are, so the backup's encoder and the restore's
//! decoder copy whole runs; finding where a run ends is most of the work either does per row.

/// Where the run of plain string characters starting at `start` ends: the first quote,
/// backslash or control character, or the end of `input`.
#[inline]
pub(super) fn plain_run_end(input: &[u8], start: usize) -> usize {
    let is_plain = |b: u8| b != b'"' && b != b'\\' && b >= 0x20;
    // Most strings are short (a name, a time, a uuid): byte by byte is quickest for them.
    let head = input.len().min(start + 16);
    if let Some(at) = input[start..head].iter().position(|&b| !is_plain(b)) {
        return start + at;
    }
    if head == input.len() {
        return head;
    }
    let end = memchr::memchr2(b'"', b'\\', &input[head..]).map_or(input.len(), |at| head + at);
    head + first_control(&input[head..end]).unwrap_or(end - head)
}

/// The first byte below 0x20 in `bytes`. Each block of 32 is tested whole first, a test the
/// compiler turns into a few vector instructions; only a block holding one is searched.
fn first_control(bytes: &[u8]) -> Option<usize> {
    const BLOCK: usize = 32;
    for (n, block) in bytes.chunks(BLOCK).enumerate() {
        if block.iter().fold(false, |seen, &b| seen | (b < 0x20)) {
            return block
                .iter()
                .position(|&b| b < 0x20)
                .map(|at| n * BLOCK + at);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_run_ends_where_a_byte_by_byte_scan_ends() {
        let naive = |input: &[u8], start: usize| {
            (start..input.len())
                .find(|&i| input[i] == b'"' || input[i] == b'\\' || input[i] < 0x20)
                .unwrap_or(input.len())
        };
        // Stops at every position around the first 16 bytes and the 32-byte blocks after
        // them, and at none.
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49, 64, 81, 100] {
            for stop in [
                None,
                Some(b'"'),
                Some(b'\\'),
                Some(b'\n'),
                Some(0x00),
                Some(0x1f),
            ] {
                for at in 0..len.max(1) {
                    let mut input = vec![b'a'; len];
                    input.extend_from_slice("é\"x".as_bytes());
                    if let (Some(stop), true) = (stop, at < len) {
                        input[at] = stop;
                    }
                    for start in [0, 1.min(len), at.min(len)] {
                        assert_eq!(
                            plain_run_end(&input, start),
                            naive(&input, start),
                            "{input:?} from {start}"
                        );
                    }
                }
            }
        }
        // 0x20 and 0x7f are plain; so is every byte of a multi-byte character.
        let input = " \u{7f}é漢🌴\"".as_bytes();
        assert_eq!(plain_run_end(input, 0), input.len() - 1);
    }
}
