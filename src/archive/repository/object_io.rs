//! Streaming a file to and from an object store with constant memory.
//!
//! Writing: bytes collect in one part buffer; a full part is uploaded in the background while
//! the next one fills, at most [`PARTS_IN_FLIGHT`] at a time, so memory is about
//! `(1 + PARTS_IN_FLIGHT) × part size` per file whatever its length. A file that fits in one
//! part is one plain PUT. Parts start at 5 MiB (S3's minimum) and double every 1,000 parts, so
//! S3's 10,000-part limit is never reached (the last ones are 160 MiB: files up to about 1 TB).
//!
//! Reading: one streaming GET per file, its body handed over in chunks through a short queue;
//! a connection dropped mid-body is resumed by the client from where it stopped.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::bridge;
use super::object::{Lease, ObjectRepo, OpenUpload};
use super::{FileSink, FileSource};

/// The first parts' size: S3's minimum for every part but the last.
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts uploading while the next one fills.
const PARTS_IN_FLIGHT: usize = 1;
/// Body chunks queued between the download and the reader.
const CHUNKS_QUEUED: usize = 8;

/// The size of part number `index` (from 0).
fn part_size(index: usize) -> usize {
    PART_BYTES << (index / 1000).min(5)
}

pub struct ObjectSink {
    repo: Arc<ObjectRepo>,
    lease: Arc<Lease>,
    path: Path,
    file: String,
    buffer: Vec<u8>,
    upload: Option<Upload>,
    finished: bool,
}

struct Upload {
    id: String,
    parts: Vec<PartId>,
    in_flight: VecDeque<JoinHandle<object_store::Result<PartId>>>,
    next_index: usize,
}

impl ObjectSink {
    pub fn new(repo: Arc<ObjectRepo>, lease: Arc<Lease>, path: Path, file: String) -> ObjectSink {
        ObjectSink {
            repo,
            lease,
            path,
            file,
            buffer: Vec::with_capacity(PART_BYTES),
            upload: None,
            finished: false,
        }
    }

    fn error(&self, doing: &str, err: object_store::Error) -> io::Error {
        self.repo.io_error(&format!("{doing} {}", self.path), err)
    }

    /// Starts the multipart upload, recorded in the lease before any part is sent.
    fn start_upload(&mut self) -> io::Result<()> {
        let s3 = self.repo.s3.clone();
        let path = self.path.clone();
        let id = bridge::run(async move { s3.create_multipart(&path).await })
            .map_err(|e| self.error("cannot start the upload of", e))?;
        self.lease
            .add_upload(OpenUpload {
                file: self.file.clone(),
                upload_id: id.clone(),
            })
            .map_err(|e| io::Error::other(crate::error::one_line(&e)))?;
        self.upload = Some(Upload {
            id,
            parts: Vec::new(),
            in_flight: VecDeque::new(),
            next_index: 0,
        });
        Ok(())
    }

    /// Sends the buffer as the next part; waits for the oldest part if too many are in flight.
    fn send_part(&mut self) -> io::Result<()> {
        if self.upload.is_none() {
            self.start_upload()?;
        }
        let upload = self.upload.as_mut().expect("the upload was started");
        let next_size = part_size(upload.next_index + 1);
        let body = std::mem::replace(&mut self.buffer, Vec::with_capacity(next_size));
        let s3 = self.repo.s3.clone();
        let path = self.path.clone();
        let id = upload.id.clone();
        let index = upload.next_index;
        upload.next_index += 1;
        upload.in_flight.push_back(bridge::spawn(async move {
            s3.put_part(&path, &id, index, PutPayload::from(Bytes::from(body)))
                .await
        }));
        while upload.in_flight.len() > PARTS_IN_FLIGHT {
            let oldest = upload.in_flight.pop_front().expect("a part in flight");
            match bridge::wait(oldest) {
                Ok(part) => upload.parts.push(part),
                Err(e) => return Err(self.error("cannot upload a part of", e)),
            }
        }
        Ok(())
    }

    fn current_part_size(&self) -> usize {
        part_size(self.upload.as_ref().map_or(0, |u| u.next_index))
    }
}

impl Write for ObjectSink {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let written = buf.len();
        while !buf.is_empty() {
            let room = self.current_part_size() - self.buffer.len();
            let take = room.min(buf.len());
            self.buffer.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.buffer.len() >= self.current_part_size() {
                self.send_part()?;
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FileSink for ObjectSink {
    fn finish(mut self: Box<Self>) -> io::Result<()> {
        if self.upload.is_none() {
            let s3 = self.repo.s3.clone();
            let path = self.path.clone();
            let body = std::mem::take(&mut self.buffer);
            bridge::run(async move { s3.put(&path, PutPayload::from(Bytes::from(body))).await })
                .map_err(|e| self.error("cannot upload", e))?;
            self.finished = true;
            return Ok(());
        }
        if !self.buffer.is_empty() {
            self.send_part()?;
        }
        let mut upload = self.upload.take().expect("the upload was started");
        while let Some(part) = upload.in_flight.pop_front() {
            match bridge::wait(part) {
                Ok(part) => upload.parts.push(part),
                Err(e) => {
                    self.upload = Some(upload);
                    return Err(self.error("cannot upload a part of", e));
                }
            }
        }
        let s3 = self.repo.s3.clone();
        let path = self.path.clone();
        let id = upload.id.clone();
        let parts = std::mem::take(&mut upload.parts);
        let completed = bridge::run(async move { s3.complete_multipart(&path, &id, parts).await });
        if let Err(e) = completed {
            self.upload = Some(upload);
            return Err(self.error("cannot complete the upload of", e));
        }
        self.lease.remove_upload(&self.file);
        self.finished = true;
        Ok(())
    }
}

impl Drop for ObjectSink {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Given up on: stop the parts still uploading and abort the upload, so the store
        // keeps nothing of it. If the abort fails, the lease still lists it for prune.
        if let Some(upload) = self.upload.take() {
            for part in &upload.in_flight {
                part.abort();
            }
            match self.repo.abort_upload(&self.path, &upload.id) {
                Ok(()) => self.lease.remove_upload(&self.file),
                Err(e) => tracing::debug!("{}", crate::error::one_line(&e)),
            }
        }
    }
}

/// A file's body, read as it downloads.
pub struct ObjectSource {
    chunks: mpsc::Receiver<object_store::Result<Bytes>>,
    current: Bytes,
    repo: Arc<ObjectRepo>,
    path: Path,
    /// Stops the download when the reader is dropped early.
    download: tokio::task::AbortHandle,
}

impl ObjectSource {
    pub fn open(repo: &ObjectRepo, path: Path) -> io::Result<FileSource> {
        let s3 = repo.s3.clone();
        let target = path.clone();
        let got = bridge::run(async move { s3.get(&target).await }).map_err(|e| match e {
            object_store::Error::NotFound { .. } => io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} does not exist", repo.describe(&path)),
            ),
            e => repo.io_error(&format!("cannot read {}", repo.describe(&path)), e),
        })?;
        let (sender, chunks) = mpsc::channel(CHUNKS_QUEUED);
        let download = bridge::spawn(async move {
            let mut body = got.into_stream();
            while let Some(chunk) = body.next().await {
                let failed = chunk.is_err();
                if sender.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        })
        .abort_handle();
        Ok(Box::new(ObjectSource {
            chunks,
            current: Bytes::new(),
            repo: Arc::new(repo.clone()),
            path,
            download,
        }))
    }
}

impl Read for ObjectSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match bridge::block_here(self.chunks.recv()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => {
                    return Err(self.repo.io_error(
                        &format!("cannot read {}", self.repo.describe(&self.path)),
                        e,
                    ));
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

impl Drop for ObjectSource {
    fn drop(&mut self) {
        self.download.abort();
    }
}
