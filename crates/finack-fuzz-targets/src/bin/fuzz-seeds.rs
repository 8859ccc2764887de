//! `fuzz-seeds OUT [PACKETDRILL_DIR]`: writes the seed corpora of the fuzz
//! targets into `OUT/<target>/` (see `finack_fuzz_targets::seeds`).
//! `PACKETDRILL_DIR` defaults to `$FINACK_PACKETDRILL_DIR`, else
//! `../shared/packetdrill` beside the repository; without it the
//! `packetdrill_parse` seeds are skipped with a message.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use finack_fuzz_targets::seeds::{self, Seed};

fn write(out: &Path, target: &str, seeds: &[Seed]) -> std::io::Result<()> {
    let dir = out.join(target);
    std::fs::create_dir_all(&dir)?;
    let bytes: usize = seeds.iter().map(|(_, b)| b.len()).sum();
    for (name, data) in seeds {
        std::fs::write(dir.join(name), data)?;
    }
    println!(
        "{target}: {} seeds, {bytes} bytes in {}",
        seeds.len(),
        dir.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: fuzz-seeds OUT [PACKETDRILL_DIR]");
        return ExitCode::from(2);
    };
    let pd = args
        .next()
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("FINACK_PACKETDRILL_DIR").map(PathBuf::from))
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/packetdrill")
        });
    let result = (|| {
        write(&out, "wire_parse", &seeds::wire_parse())?;
        write(&out, "endpoint_pair", &seeds::endpoint_pair())?;
        write(&out, "explain_capture", &seeds::explain_capture())?;
        write(&out, "scenario_file", &seeds::scenario_file())?;
        match seeds::packetdrill_parse(&pd) {
            Ok(s) if !s.is_empty() => write(&out, "packetdrill_parse", &s)?,
            Ok(_) => eprintln!(
                "packetdrill_parse: no .pkt files in {}: no seeds",
                pd.display()
            ),
            Err(e) => eprintln!(
                "packetdrill_parse: cannot read {}: {e}: no seeds",
                pd.display()
            ),
        }
        std::io::Result::Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fuzz-seeds: cannot write into {}: {e}", out.display());
            ExitCode::from(3)
        }
    }
}
