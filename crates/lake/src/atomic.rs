//! A parquet file that appears atomically: written to the store's staging path, synced,
//! then committed (renamed into place, or uploaded whole); dropped unfinished, it removes
//! its staging file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use crate::LakeError;
use crate::store::LakeObject;

pub(crate) struct AtomicParquet {
    object: LakeObject,
    location: PathBuf,
    tmp: PathBuf,
    /// `None` once finished.
    writer: Option<SerializedFileWriter<File>>,
}

impl AtomicParquet {
    pub(crate) fn create(object: LakeObject, schema: Type, props: WriterProperties) -> Result<Self, LakeError> {
        let tmp = object.store.staging_path(&object.key)?;
        let file = File::create(&tmp).map_err(LakeError::io(&tmp))?;
        let writer =
            SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).map_err(LakeError::parquet(&tmp))?;
        Ok(AtomicParquet { location: object.location(), object, tmp, writer: Some(writer) })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.location
    }

    /// Where errors during writing point (the temporary file).
    pub(crate) fn tmp(&self) -> &Path {
        &self.tmp
    }

    pub(crate) fn writer(&mut self) -> &mut SerializedFileWriter<File> {
        self.writer.as_mut().expect("an AtomicParquet is written until finish")
    }

    /// Closes, syncs and publishes the file; returns the object written.
    pub(crate) fn finish(mut self) -> Result<LakeObject, LakeError> {
        let writer = self.writer.take().expect("finish is called once");
        let file = writer.into_inner().map_err(LakeError::parquet(&self.tmp))?;
        file.sync_all().map_err(LakeError::io(&self.tmp))?;
        drop(file);
        if let Err(e) = self.object.store.commit(&self.tmp, &self.object.key) {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(e);
        }
        Ok(self.object.clone())
    }
}

impl Drop for AtomicParquet {
    /// An unfinished file (an error, a panic, an interrupted job) leaves nothing behind.
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
