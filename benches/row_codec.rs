//! The client's CPU cost per row: COPY text → JSON line (backup) and back (restore), and the
//! line check of `backup verify`, on rows shaped like Palm's tables. No database: this is the
//! part of backup and restore that runs in palmdb's own process, the part that competes with
//! the server's backends for the machine's cores.
//!
//!     flock /tmp/palmdb-bench.lock cargo bench --bench row_codec
//!
//! The rows are made here, the same every run (a fixed seed), then encoded with the backup's
//! encoder, so the decoder reads exactly what a backup holds. Each step runs over every row
//! several times; the best pass counts (the least disturbed by the rest of the machine).
//! The floor is what no decoder can beat: finding each line's end (memchr) and copying its
//! bytes. Prints a markdown table (docs/benchmarks/row-codec.md keeps the runs, with
//! instruction counts from callgrind, which this shared machine's timings cannot replace).

use std::time::{Duration, Instant};

use palmdb::archive::row_codec::{JsonKind, RowDecoder, RowEncoder};

/// Rows per shape; `PALMDB_BENCH_ROWS` overrides it for a quick smoke run.
fn rows_per_shape() -> usize {
    std::env::var("PALMDB_BENCH_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000)
}
const PASSES: usize = 5;

/// A small deterministic generator (xorshift): the same rows on every run and machine.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One table's shape: its columns and a row maker (COPY text, without the `\n`).
struct Shape {
    name: &'static str,
    columns: Vec<(&'static str, JsonKind)>,
    row: fn(&mut Random, usize) -> String,
}

fn users_row(random: &mut Random, i: usize) -> String {
    let names = [
        "Ana", "Bo", "Chloé", "Dmitri", "Eun-ji", "Farah", "Günther", "李雷",
    ];
    let name = names[random.below(names.len() as u64) as usize];
    format!(
        "{i}\t{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}\tuser{i}@example.com\t{name} {i}\t{}\t{}\t2026-0{}-1{} 0{}:1{}:2{}.{:06}+00",
        random.next() as u32,
        random.below(0x10000),
        random.below(0x1000),
        random.below(0x1000),
        random.next() & 0xffff_ffff_ffff,
        if random.below(10) < 3 { "pro" } else { "free" },
        random.below(5000),
        1 + random.below(9),
        random.below(10),
        random.below(10),
        random.below(10),
        random.below(10),
        random.below(1_000_000),
    )
}

/// Like Palm's webhook_logs: a JSONB payload, whose quotes JSON escapes in every line.
fn webhook_row(random: &mut Random, i: usize) -> String {
    let events = [
        "checkout.session.completed",
        "invoice.paid",
        "charge.refunded",
    ];
    let event = events[random.below(events.len() as u64) as usize];
    format!(
        "{i}\tstripe\tevt_demo_1_{i}\t{event}\t{{\"id\": \"evt_demo_1_{i}\", \"data\": {{\"object\": {{\"id\": \"cs_{:016x}\", \"currency\": \"usd\", \"amount_total\": {}, \"customer_email\": \"user{}@example.com\"}}}}, \"type\": \"{event}\", \"created\": {}}}\tprocessed\t1\t\\N\t2026-03-0{} 12:00:0{}+00\t2026-03-0{} 12:00:0{}+00",
        random.next(),
        random.below(100_000),
        random.below(1_000_000),
        1_760_000_000 + random.below(10_000_000),
        1 + random.below(9),
        random.below(8),
        1 + random.below(9),
        random.below(8),
    )
}

/// Long prose with a line break and a tab now and then (COPY escapes them, so does JSON),
/// and some text beyond ASCII: a chat message or a document body.
fn long_text_row(random: &mut Random, i: usize) -> String {
    let words = [
        "palm",
        "reading",
        "lines",
        "heart",
        "destiny",
        "the",
        "of",
        "and",
        "fortune",
        "révélé",
        "未来",
        "path",
    ];
    let mut body = String::new();
    for w in 0..(200 + random.below(200)) {
        if w > 0 {
            body.push_str(match random.below(40) {
                0 => "\\n",
                1 => "\\t",
                _ => " ",
            });
        }
        body.push_str(words[random.below(words.len() as u64) as usize]);
    }
    format!("{i}\t{}\tassistant\t{body}", random.below(1_000_000))
}

fn shapes() -> Vec<Shape> {
    use JsonKind::{Integer, Text};
    vec![
        Shape {
            name: "users (short texts, uuid, time)",
            columns: vec![
                ("id", Integer),
                ("uuid", Text),
                ("email", Text),
                ("name", Text),
                ("plan", Text),
                ("credits", Integer),
                ("created_at", Text),
            ],
            row: users_row,
        },
        Shape {
            name: "webhook_logs (JSON payload)",
            columns: vec![
                ("id", Integer),
                ("provider", Text),
                ("event_id", Text),
                ("event_type", Text),
                ("payload", Text),
                ("status", Text),
                ("attempts", Integer),
                ("error_message", Text),
                ("created_at", Text),
                ("processed_at", Text),
            ],
            row: webhook_row,
        },
        Shape {
            name: "messages (long text, some non-ASCII)",
            columns: vec![
                ("id", Integer),
                ("session_id", Integer),
                ("role", Text),
                ("content", Text),
            ],
            row: long_text_row,
        },
    ]
}

/// The best of [`PASSES`] passes of `step`.
fn best(mut step: impl FnMut()) -> Duration {
    (0..PASSES)
        .map(|_| {
            let started = Instant::now();
            step();
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

struct Measured {
    shape: &'static str,
    rows: usize,
    json_bytes: usize,
    floor: Duration,
    encode: Duration,
    decode: Duration,
    check: Duration,
}

fn measure(shape: &Shape, rows: usize) -> Measured {
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let copy_rows: Vec<String> = (0..rows).map(|i| (shape.row)(&mut random, i)).collect();
    let encoder = RowEncoder::new(shape.columns.iter().copied());
    let mut json = Vec::new();
    for row in &copy_rows {
        encoder
            .encode(row.as_bytes(), &mut json)
            .expect("a valid row");
    }
    let names = shape.columns.iter().map(|(n, _)| n.to_string()).collect();
    let decoder = RowDecoder::new(names);
    let lines: Vec<&[u8]> = json
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    // Every line decodes back to its row: a benchmark of a wrong decoder measures nothing.
    let mut out = Vec::new();
    for (line, row) in lines.iter().zip(&copy_rows) {
        out.clear();
        decoder
            .decode(line, &mut out)
            .expect("a line the encoder wrote");
        assert_eq!(&out[..out.len() - 1], row.as_bytes());
    }

    let mut sink = Vec::with_capacity(1 << 20);
    let floor = best(|| {
        let mut rest = &json[..];
        while let Some(end) = memchr::memchr(b'\n', rest) {
            sink.clear();
            sink.extend_from_slice(&rest[..end]);
            std::hint::black_box(&sink);
            rest = &rest[end + 1..];
        }
    });
    let encode = best(|| {
        for row in &copy_rows {
            sink.clear();
            encoder.encode(row.as_bytes(), &mut sink).unwrap();
            std::hint::black_box(&sink);
        }
    });
    let decode = best(|| {
        for line in &lines {
            sink.clear();
            decoder.decode(line, &mut sink).unwrap();
            std::hint::black_box(&sink);
        }
    });
    let check = best(|| {
        let mut checker = decoder.checker();
        for line in &lines {
            checker.next_line();
            checker.feed(line, &mut sink).unwrap();
            checker.finish(&mut sink).unwrap();
        }
    });
    Measured {
        shape: shape.name,
        rows,
        json_bytes: json.len(),
        floor,
        encode,
        decode,
        check,
    }
}

fn rate(bytes: usize, time: Duration) -> String {
    format!("{:.0} MB/s", bytes as f64 / time.as_secs_f64() / 1e6)
}

fn main() {
    let rows = rows_per_shape();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let mut table = String::new();
    table.push_str(&format!(
        "Rows per shape: {rows}; best of {PASSES} passes; load average before: {}; \
         palmdb {}.\n\n",
        load.join(" "),
        env!("CARGO_PKG_VERSION")
    ));
    table.push_str(
        "| rows shaped like | JSON per row | floor (find line, copy) | encode (backup) | \
         decode (restore) | check (verify) | decode / floor |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for shape in shapes() {
        let m = measure(&shape, rows);
        table.push_str(&format!(
            "| {} | {} B | {} | {} | {} | {} | {:.1}× |\n",
            m.shape,
            m.json_bytes / m.rows,
            rate(m.json_bytes, m.floor),
            rate(m.json_bytes, m.encode),
            rate(m.json_bytes, m.decode),
            rate(m.json_bytes, m.check),
            m.decode.as_secs_f64() / m.floor.as_secs_f64(),
        ));
    }
    print!("{table}");
}
