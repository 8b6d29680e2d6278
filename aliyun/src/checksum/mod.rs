//! Checksums that Alibaba Cloud services report for stored data.

pub mod crc64;
