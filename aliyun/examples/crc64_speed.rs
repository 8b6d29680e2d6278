//! How fast CRC-64/XZ is computed: this crate's [`Crc64`] (crc-fast), TiKV's `crc64fast` and
//! the slicing-by-8 tables `Crc64` used before, over the same 256 MiB, in one call and in the
//! 16 KiB pieces a download feeds it. Prints GiB/s (best of several passes, as other work on the
//! machine only ever slows a pass down) and checks that all agree.
//!
//! `cargo run --release -p sparkoss-aliyun --example crc64_speed [-- --quick]`

use std::time::Instant;

use sparkoss_aliyun::checksum::crc64::{Crc64, POLY};

/// The replaced implementation, kept here only as the baseline: slicing-by-8 tables.
struct Tables([[u64; 256]; 8]);

impl Tables {
    fn new() -> Self {
        let mut t = [[0u64; 256]; 8];
        for (i, slot) in t[0].iter_mut().enumerate() {
            let mut c = i as u64;
            for _ in 0..8 {
                c = if c & 1 == 1 { (c >> 1) ^ POLY } else { c >> 1 };
            }
            *slot = c;
        }
        for s in 1..8 {
            for i in 0..256 {
                let prev = t[s - 1][i];
                t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            }
        }
        Tables(t)
    }

    fn checksum(&self, data: &[u8]) -> u64 {
        let t = &self.0;
        let mut crc = !0u64;
        let mut chunks = data.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let b = (crc ^ u64::from_le_bytes(word)).to_le_bytes();
            crc = t[7][usize::from(b[0])]
                ^ t[6][usize::from(b[1])]
                ^ t[5][usize::from(b[2])]
                ^ t[4][usize::from(b[3])]
                ^ t[3][usize::from(b[4])]
                ^ t[2][usize::from(b[5])]
                ^ t[1][usize::from(b[6])]
                ^ t[0][usize::from(b[7])];
        }
        for &byte in chunks.remainder() {
            crc = t[0][usize::from((crc as u8) ^ byte)] ^ (crc >> 8);
        }
        !crc
    }
}

fn measure(name: &str, data: &[u8], passes: usize, f: &dyn Fn(&[u8]) -> u64) -> u64 {
    let mut best = f64::MAX;
    let mut crc = 0;
    for _ in 0..passes {
        let t = Instant::now();
        crc = f(data);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("  {name:<44} {:6.2} GiB/s", data.len() as f64 / f64::from(1u32 << 30) / best);
    crc
}

fn main() -> std::process::ExitCode {
    let quick = std::env::args().any(|a| a == "--quick");
    let (mib, passes) = if quick { (16usize, 3) } else { (256, 15) };
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..(mib << 20) / 8)
        .flat_map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed.to_le_bytes()
        })
        .collect();
    println!("CRC-64/XZ over {mib} MiB, best of {passes} passes:");
    let tables = Tables::new();
    let crcs = [
        measure("Crc64 (crc-fast), one call", &data, passes, &Crc64::checksum),
        measure("Crc64 (crc-fast), 16 KiB updates", &data, passes, &|d| {
            let mut c = Crc64::new();
            d.chunks(16 << 10).for_each(|p| c.update(p));
            c.finish()
        }),
        measure("crc64fast (TiKV), one call", &data, passes, &|d| {
            let mut c = crc64fast::Digest::new();
            c.write(d);
            c.sum64()
        }),
        measure("crc64fast (TiKV), 16 KiB updates", &data, passes, &|d| {
            let mut c = crc64fast::Digest::new();
            d.chunks(16 << 10).for_each(|p| c.write(p));
            c.sum64()
        }),
        measure("slicing-by-8 tables (the replaced code)", &data, passes.min(3), &|d| tables.checksum(d)),
    ];
    if crcs.iter().any(|c| *c != crcs[0]) {
        eprintln!("crc64_speed: the implementations disagree: {crcs:x?}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
