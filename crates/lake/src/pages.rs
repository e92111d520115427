//! The pages of one column chunk, decompressed with one zstd context for a whole file.
//!
//! parquet's own page reader builds a codec per column chunk, and its zstd codec creates a
//! compression *and* a decompression context, each of which asks the CPU for its features
//! (`cpuid`). A virtual machine traps `cpuid` to the hypervisor (EC2 does too), so a tick
//! file of 1,000 symbols × 7 columns paid 14,000 traps per hour of data: on our 2-vCPU VM the
//! context setup was 35 % of decoding a replay (`perf`: `ZSTD_createCCtx` + `ZSTD_createDCtx`,
//! nearly all of it the `cpuid` instruction). Here a column chunk is read in one go, its pages
//! cut out of it without copying and decompressed by one [`zstd::bulk::Decompressor`] that
//! lives as long as the file's reader; parquet's column readers then decode the values as
//! before.
//!
//! Only what tickloop writes is read this way: format v1 data pages and dictionary pages,
//! uncompressed or zstd. Anything else (data page v2, another codec, an encoding this module
//! does not name) makes [`ChunkPages::read`] answer `None` and the caller uses parquet's own
//! reader, so every valid file stays readable.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::column::page::{Page, PageMetadata, PageReader};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ColumnChunkMetaData;

/// Page types of the parquet format (`PageType`).
const DATA_PAGE: i32 = 0;
const INDEX_PAGE: i32 = 1;
const DICTIONARY_PAGE: i32 = 2;

/// Decompresses the pages of column chunks, reusing one zstd context.
pub(crate) struct ChunkPages {
    zstd: Option<zstd::bulk::Decompressor<'static>>,
}

impl std::fmt::Debug for ChunkPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkPages").field("zstd", &self.zstd.is_some()).finish()
    }
}

impl ChunkPages {
    pub fn new() -> Self {
        ChunkPages { zstd: None }
    }

    /// Every page of `column`, read from `file` and decompressed; or `None` where the chunk
    /// uses something only parquet's own reader reads.
    pub fn read(&mut self, file: &mut File, column: &ColumnChunkMetaData) -> Result<Option<VecPages>> {
        let compression = column.compression();
        if !matches!(compression, Compression::UNCOMPRESSED | Compression::ZSTD(_)) {
            return Ok(None);
        }
        let (start, length) = column.byte_range();
        let mut chunk = vec![0; to_usize(length)?];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        let chunk = Bytes::from(chunk);
        let end = chunk.len();
        let mut pages = Vec::new();
        let mut at = 0;
        while at < end {
            let (header, header_len) = PageHeader::parse(&chunk[at..])?;
            let body_start = at + header_len;
            let body_end = body_start
                .checked_add(to_usize(header.compressed_size)?)
                .filter(|&e| e <= end)
                .ok_or_else(|| ParquetError::General(format!("a page at byte {at} runs past its column chunk")))?;
            at = body_end;
            let body = chunk.slice(body_start..body_end);
            let page = match header.kind {
                Kind::Data { num_values, encoding, def_levels, rep_levels } => {
                    let (Some(encoding), Some(def_level_encoding), Some(rep_level_encoding)) =
                        (encoding, def_levels, rep_levels)
                    else {
                        return Ok(None);
                    };
                    let buf = self.decompress(body, compression, header.uncompressed_size)?;
                    Page::DataPage {
                        buf,
                        num_values: to_u32(num_values)?,
                        encoding,
                        def_level_encoding,
                        rep_level_encoding,
                        statistics: None,
                    }
                }
                Kind::Dictionary { num_values, encoding, is_sorted } => {
                    let Some(encoding) = encoding else {
                        return Ok(None);
                    };
                    let buf = self.decompress(body, compression, header.uncompressed_size)?;
                    Page::DictionaryPage { buf, num_values: to_u32(num_values)?, encoding, is_sorted }
                }
                Kind::Index => continue,
                Kind::Other => return Ok(None),
            };
            pages.push(page);
        }
        pages.reverse();
        Ok(Some(VecPages { pages }))
    }

    fn decompress(&mut self, body: Bytes, compression: Compression, uncompressed_size: i32) -> Result<Bytes> {
        let size = to_usize(uncompressed_size)?;
        if compression == Compression::UNCOMPRESSED || size == 0 {
            return Ok(body);
        }
        let zstd = match &mut self.zstd {
            Some(zstd) => zstd,
            slot => slot.insert(zstd::bulk::Decompressor::new()?),
        };
        let mut out = Vec::with_capacity(size);
        let n = zstd.decompress_to_buffer(&body[..], &mut out)?;
        if n != size {
            return Err(ParquetError::General(format!("a page decompressed to {n} bytes, its header says {size}")));
        }
        Ok(out.into())
    }
}

/// A column chunk's pages, already decompressed, handed to parquet's column reader.
#[derive(Debug)]
pub(crate) struct VecPages {
    /// In reverse order: the next page is the last.
    pages: Vec<Page>,
}

impl Iterator for VecPages {
    type Item = Result<Page>;

    fn next(&mut self) -> Option<Self::Item> {
        self.pages.pop().map(Ok)
    }
}

impl PageReader for VecPages {
    fn get_next_page(&mut self) -> Result<Option<Page>> {
        Ok(self.pages.pop())
    }

    fn peek_next_page(&mut self) -> Result<Option<PageMetadata>> {
        Ok(self.pages.last().map(|page| match page {
            Page::DictionaryPage { .. } => PageMetadata { num_rows: None, num_levels: None, is_dict: true },
            page => PageMetadata {
                num_rows: Some(page.num_values() as usize),
                num_levels: Some(page.num_values() as usize),
                is_dict: false,
            },
        }))
    }

    fn skip_next_page(&mut self) -> Result<()> {
        self.pages.pop();
        Ok(())
    }
}

/// What a page header says, of what this reader uses.
#[derive(Debug, PartialEq)]
struct PageHeader {
    uncompressed_size: i32,
    compressed_size: i32,
    kind: Kind,
}

/// An encoding this reader does not name is `None` (the chunk then goes to parquet's reader).
#[derive(Debug, PartialEq)]
enum Kind {
    Data {
        num_values: i32,
        encoding: Option<Encoding>,
        def_levels: Option<Encoding>,
        rep_levels: Option<Encoding>,
    },
    Dictionary {
        num_values: i32,
        encoding: Option<Encoding>,
        is_sorted: bool,
    },
    Index,
    /// Data page v2, or a page type this reader does not know.
    Other,
}

impl PageHeader {
    /// Parses a thrift-compact `PageHeader` at the start of `bytes`; returns it and its length.
    fn parse(bytes: &[u8]) -> Result<(PageHeader, usize)> {
        let mut input = Compact { bytes, at: 0 };
        let (mut page_type, mut uncompressed_size, mut compressed_size) = (None, None, None);
        let mut data = None;
        let mut dictionary = None;
        input.read_struct(|input, id, ty| {
            match (id, ty) {
                (1, I32) => page_type = Some(input.i32()?),
                (2, I32) => uncompressed_size = Some(input.i32()?),
                (3, I32) => compressed_size = Some(input.i32()?),
                (5, STRUCT) => {
                    let ([n, e, d, r], _) = input.small_struct()?;
                    let missing = || ParquetError::General("a data page header lacks a required field".into());
                    data = Some(Kind::Data {
                        num_values: n.ok_or_else(missing)?,
                        encoding: encoding(e.ok_or_else(missing)?),
                        def_levels: encoding(d.ok_or_else(missing)?),
                        rep_levels: encoding(r.ok_or_else(missing)?),
                    });
                }
                (7, STRUCT) => {
                    let ([n, e, ..], is_sorted) = input.small_struct()?;
                    let missing = || ParquetError::General("a dictionary page header lacks a required field".into());
                    dictionary = Some(Kind::Dictionary {
                        num_values: n.ok_or_else(missing)?,
                        encoding: encoding(e.ok_or_else(missing)?),
                        is_sorted,
                    });
                }
                _ => input.skip(ty, 0)?,
            }
            Ok(())
        })?;
        let missing = |what: &str| ParquetError::General(format!("a page header lacks its {what}"));
        let kind = match page_type.ok_or_else(|| missing("type"))? {
            DATA_PAGE => data.ok_or_else(|| missing("data page header"))?,
            DICTIONARY_PAGE => dictionary.ok_or_else(|| missing("dictionary page header"))?,
            INDEX_PAGE => Kind::Index,
            _ => Kind::Other,
        };
        let header = PageHeader {
            uncompressed_size: uncompressed_size.ok_or_else(|| missing("uncompressed size"))?,
            compressed_size: compressed_size.ok_or_else(|| missing("compressed size"))?,
            kind,
        };
        Ok((header, input.at))
    }
}

/// The encodings a tickloop file (or an older one) uses; others send the chunk to parquet.
fn encoding(value: i32) -> Option<Encoding> {
    Some(match value {
        0 => Encoding::PLAIN,
        2 => Encoding::PLAIN_DICTIONARY,
        3 => Encoding::RLE,
        5 => Encoding::DELTA_BINARY_PACKED,
        6 => Encoding::DELTA_LENGTH_BYTE_ARRAY,
        7 => Encoding::DELTA_BYTE_ARRAY,
        8 => Encoding::RLE_DICTIONARY,
        9 => Encoding::BYTE_STREAM_SPLIT,
        _ => return None,
    })
}

fn to_usize<T: TryInto<usize> + Copy + std::fmt::Display>(v: T) -> Result<usize> {
    v.try_into().map_err(|_| ParquetError::General(format!("{v} is not a valid size or offset")))
}

fn to_u32(v: i32) -> Result<u32> {
    u32::try_from(v).map_err(|_| ParquetError::General(format!("{v} is not a valid value count")))
}

/// Thrift compact-protocol field types.
const TRUE: u8 = 1;
const FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;

/// Nesting deeper than this is refused rather than followed (a corrupt header cannot
/// overflow the stack).
const MAX_DEPTH: usize = 32;

/// A reader of the thrift compact protocol, enough for page headers.
struct Compact<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self.bytes.get(self.at).ok_or_else(|| ParquetError::EOF("a page header ends early".into()))?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ParquetError::General("a varint in a page header is too long".into()))
    }

    fn zigzag(&mut self) -> Result<i64> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn i32(&mut self) -> Result<i32> {
        i32::try_from(self.zigzag()?)
            .map_err(|_| ParquetError::General("an i32 in a page header is out of range".into()))
    }

    /// A data or dictionary page header: its i32 fields 1 to 4 (`None` where absent), and
    /// whether field 3 is a true boolean (a dictionary page's `is_sorted`); others skipped.
    fn small_struct(&mut self) -> Result<([Option<i32>; 4], bool)> {
        let (mut ints, mut flag) = ([None; 4], false);
        self.read_struct(|input, id, ty| {
            match (id, ty) {
                (1..=4, I32) => ints[id as usize - 1] = Some(input.i32()?),
                (3, TRUE) => flag = true,
                _ => input.skip(ty, 0)?,
            }
            Ok(())
        })?;
        Ok((ints, flag))
    }

    /// Calls `field(self, id, type)` for each field of a struct up to its stop byte; the
    /// callback reads or skips the value.
    fn read_struct(&mut self, mut field: impl FnMut(&mut Self, i16, u8) -> Result<()>) -> Result<()> {
        let mut last = 0i16;
        loop {
            let b = self.byte()?;
            if b == 0 {
                return Ok(());
            }
            let ty = b & 0x0f;
            let delta = i16::from(b >> 4);
            let id = if delta == 0 {
                i16::try_from(self.zigzag()?)
                    .map_err(|_| ParquetError::General("a field id in a page header is out of range".into()))?
            } else {
                last.checked_add(delta).ok_or_else(|| ParquetError::General("a field id overflows".into()))?
            };
            last = id;
            field(self, id, ty)?;
        }
    }

    /// Skips a value of type `ty` (as a struct field: booleans carry their value in the type).
    fn skip(&mut self, ty: u8, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(ParquetError::General("a page header nests too deep".into()));
        }
        match ty {
            TRUE | FALSE => {}
            BYTE => {
                self.byte()?;
            }
            I16 | I32 | I64 => {
                self.varint()?;
            }
            DOUBLE => self.advance(8)?,
            BINARY => {
                let n = self.varint()?;
                self.advance(to_usize(n)?)?;
            }
            LIST | SET => {
                let header = self.byte()?;
                let size = match header >> 4 {
                    15 => to_usize(self.varint()?)?,
                    n => usize::from(n),
                };
                let element = header & 0x0f;
                for _ in 0..size {
                    // Booleans inside a collection take a byte each.
                    if matches!(element, TRUE | FALSE) { self.advance(1)? } else { self.skip(element, depth + 1)? }
                }
            }
            MAP => {
                let size = to_usize(self.varint()?)?;
                if size > 0 {
                    let types = self.byte()?;
                    for _ in 0..size {
                        for element in [types >> 4, types & 0x0f] {
                            if matches!(element, TRUE | FALSE) {
                                self.advance(1)?
                            } else {
                                self.skip(element, depth + 1)?
                            }
                        }
                    }
                }
            }
            STRUCT => self.read_struct(|input, _, ty| input.skip(ty, depth + 1))?,
            other => return Err(ParquetError::General(format!("unknown thrift type {other} in a page header"))),
        }
        Ok(())
    }

    fn advance(&mut self, n: usize) -> Result<()> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        self.at = end.ok_or_else(|| ParquetError::EOF("a page header ends early".into()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Kind, PageHeader};

    /// A dictionary page header as parquet-rs writes it, with an unknown field (a binary,
    /// id 20) and a statistics-like nested struct that must be skipped.
    #[test]
    fn a_header_parses_and_unknown_fields_are_skipped() {
        let bytes = [
            0x15, 0x04, // 1: type = 2 (dictionary page), zigzag
            0x15, 0x80, 0x01, // 2: uncompressed size = 64
            0x15, 0x50, // 3: compressed size = 40
            0x4c, // 7: dictionary page header (struct, delta 4)
            0x15, 0x0a, // 1: num_values = 5
            0x15, 0x00, // 2: encoding = PLAIN
            0x11, // 3: is_sorted = true
            0x00, // end of struct
            0x08, 0x28, 0x02, 0xab, 0xcd, // 20: binary of two bytes (long-form field id)
            0x1c, 0x15, 0x02, 0x00, // 21: a struct holding one i32
            0x00, // end
        ];
        let (header, len) = PageHeader::parse(&bytes).unwrap();
        assert_eq!(len, bytes.len());
        assert_eq!(header.uncompressed_size, 64);
        assert_eq!(header.compressed_size, 40);
        assert_eq!(
            header.kind,
            Kind::Dictionary { num_values: 5, encoding: Some(parquet::basic::Encoding::PLAIN), is_sorted: true }
        );
    }

    #[test]
    fn a_header_nested_past_the_limit_is_refused() {
        let mut bytes = vec![0x1c; 100]; // field 1, a struct, in a struct, ...
        bytes.extend([0u8; 100]);
        assert!(PageHeader::parse(&bytes).is_err());
    }

    proptest! {
        /// Whatever the bytes, parsing answers (a header or an error); it never panics or
        /// reads past the input.
        #[test]
        fn any_bytes_parse_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok((_, len)) = PageHeader::parse(&bytes) {
                prop_assert!(len <= bytes.len());
            }
        }
    }
}
