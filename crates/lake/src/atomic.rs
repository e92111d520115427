//! A parquet file that appears atomically: written under a hidden temporary name, synced,
//! then renamed into place; dropped unfinished, it removes its temporary file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use crate::LakeError;
use crate::layout::temp_path;

pub(crate) struct AtomicParquet {
    path: PathBuf,
    tmp: PathBuf,
    /// `None` once finished.
    writer: Option<SerializedFileWriter<File>>,
}

impl AtomicParquet {
    pub(crate) fn create(path: PathBuf, schema: Type, props: WriterProperties) -> Result<Self, LakeError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(LakeError::io(dir))?;
        }
        let tmp = temp_path(&path);
        let file = File::create(&tmp).map_err(LakeError::io(&tmp))?;
        let writer =
            SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).map_err(LakeError::parquet(&tmp))?;
        Ok(AtomicParquet { path, tmp, writer: Some(writer) })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Where errors during writing point (the temporary file).
    pub(crate) fn tmp(&self) -> &Path {
        &self.tmp
    }

    pub(crate) fn writer(&mut self) -> &mut SerializedFileWriter<File> {
        self.writer.as_mut().expect("an AtomicParquet is written until finish")
    }

    /// Closes, syncs and renames the file into place; returns its final path.
    pub(crate) fn finish(mut self) -> Result<PathBuf, LakeError> {
        let writer = self.writer.take().expect("finish is called once");
        let file = writer.into_inner().map_err(LakeError::parquet(&self.tmp))?;
        file.sync_all().map_err(LakeError::io(&self.tmp))?;
        std::fs::rename(&self.tmp, &self.path).map_err(LakeError::io(&self.path))?;
        Ok(self.path.clone())
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
