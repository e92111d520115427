//! `model.tar.gz`: a model version packed the way SageMaker unpacks it into `/opt/ml/model`.

use std::io;
use std::path::Path;

/// Writes `files` of `dir` (the card and the weights) to `out` as a gzip-compressed tar with
/// the artifacts at its root. Reproducible: fixed order, mtime 0, no owner names; written
/// beside `out` and renamed into place, so a reader never sees half an archive.
pub fn write_model_archive(dir: &Path, files: &[&str], out: &Path) -> io::Result<()> {
    let tmp = out.with_extension("partial");
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(&tmp)?, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for name in files {
        let mut f = std::fs::File::open(dir.join(name))?;
        tar.append_file(name, &mut f)?;
    }
    tar.into_inner()?.finish()?.sync_all()?;
    std::fs::rename(&tmp, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_holds_the_files_at_its_root_and_is_the_same_bytes_every_time() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("card.json"), "{}").unwrap();
        std::fs::write(dir.path().join("model.json"), "[1,2]").unwrap();
        let (a, b) = (dir.path().join("a.tar.gz"), dir.path().join("b.tar.gz"));
        write_model_archive(dir.path(), &["card.json", "model.json"], &a).unwrap();
        write_model_archive(dir.path(), &["card.json", "model.json"], &b).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(&a).unwrap()));
        let entries: Vec<(String, String)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut text = String::new();
                std::io::Read::read_to_string(&mut e, &mut text).unwrap();
                (e.path().unwrap().display().to_string(), text)
            })
            .collect();
        assert_eq!(entries, [("card.json".into(), "{}".into()), ("model.json".into(), "[1,2]".into())]);
        assert!(write_model_archive(dir.path(), &["missing"], &dir.path().join("c.tar.gz")).is_err());
        assert!(!dir.path().join("c.tar.gz").exists(), "no half archive left under the name");
    }
}
