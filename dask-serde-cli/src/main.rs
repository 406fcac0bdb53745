//! `dask-serde`: decode, encode and inspect Dask payloads.
//!
//! ```text
//! dask-serde decode [--level serialize|message] [--deserializers a,b] [--max-output BYTES] FILE|-
//! dask-serde encode FILE.json|- -o OUT.frames
//! dask-serde inspect [--level serialize|message] FILE|-
//! ```
//!
//! `.frames` files use the `pack_frames` layout (a u64 LE frame count, one
//! u64 LE length per frame, the frames). Exit status 0 on success, 1 with
//! one line on stderr starting `error:` for bad input.

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod run;

/// Decode, encode and inspect Dask payloads (byte-compatible with Python
/// distributed 2026.8.0). Nothing is ever executed: pickles are read by a
/// safe reader that only understands plain data.
#[derive(Parser, Debug)]
#[command(name = "dask-serde", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What the frames of a file are.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Level {
    /// Frame 0 is a `serialize()` header (also `serialize_and_split` and
    /// `serialize_bytes` output: split and compressed frames are handled).
    Serialize,
    /// The frames are `protocol.dumps()` output (frame 0 is the message).
    Message,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decode a .frames file and print its value as canonical JSON
    /// (the tagged notation of docs/PROTOCOL.md §13.3).
    Decode {
        /// What the frames are.
        #[arg(long, value_enum, default_value = "serialize")]
        level: Level,
        /// Comma-separated allow-list of serialization families (default:
        /// every registered family; `pickle` payloads are read by the safe
        /// reader). Data of other families is refused with Dask's message.
        #[arg(long, value_delimiter = ',')]
        deserializers: Option<Vec<String>>,
        /// Largest JSON output in bytes (default 256 MiB). Measured before
        /// anything is printed: a value beyond it (a broadcast array of
        /// billions of elements, gigabytes of decompressed data, an int of
        /// more than 4300 digits) is refused with `error:`.
        #[arg(long, default_value_t = DEFAULT_MAX_OUTPUT)]
        max_output: u64,
        /// Input file, or `-` for standard input.
        file: String,
    },
    /// Encode a JSON document (PROTOCOL.md §13.2: `level`, `value`, `params`)
    /// into a .frames file, honouring `params` (serializers, on_error,
    /// iterate_collection, context.compression, size / frame_split_size,
    /// api = serialize | serialize_and_split | serialize_bytes).
    Encode {
        /// Input JSON document, or `-` for standard input.
        file: String,
        /// Output .frames file (`-` for standard output).
        #[arg(short, long)]
        output: String,
    },
    /// Print a human-readable summary of the headers and frames.
    Inspect {
        /// What the frames are (default: guessed from frame 0).
        #[arg(long, value_enum)]
        level: Option<Level>,
        /// Input file, or `-` for standard input.
        file: String,
    },
}

/// Largest input accepted (the library's per-frame limit applies inside).
const MAX_INPUT: u64 = 16 << 30;

/// Default of `decode --max-output`: 256 MiB of JSON.
const DEFAULT_MAX_OUTPUT: u64 = 256 << 20;

fn read_input(path: &str) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    if path == "-" {
        std::io::stdin()
            .take(MAX_INPUT)
            .read_to_end(&mut buf)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_INPUT).read_to_end(&mut buf))
            .map_err(|e| format!("cannot read {path}: {e}"))?;
    }
    Ok(buf)
}

fn write_output(path: &str, data: &[u8]) -> Result<(), String> {
    if path == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(data)
            .and_then(|_| out.flush())
            .map_err(|e| format!("cannot write standard output: {e}"))
    } else {
        std::fs::write(path, data).map_err(|e| format!("cannot write {path}: {e}"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode {
            level,
            deserializers,
            max_output,
            file,
        } => read_input(&file)
            .and_then(|data| run::decode(&data, level == Level::Message, deserializers, max_output))
            .and_then(|json| write_output("-", format!("{json}\n").as_bytes())),
        Command::Encode { file, output } => read_input(&file)
            .and_then(|data| run::encode(&data))
            .and_then(|blob| write_output(&output, &blob)),
        Command::Inspect { level, file } => read_input(&file)
            .and_then(|data| run::inspect(&data, level.map(|l| l == Level::Message)))
            .and_then(|text| write_output("-", text.as_bytes())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {}", terminal_line(&message, MAX_ERROR_CHARS));
            ExitCode::from(1)
        }
    }
}

/// Longest error line printed, in characters (error messages may quote
/// untrusted input, e.g. the text of Dask's `error` family).
const MAX_ERROR_CHARS: usize = 1000;

/// `message` made safe for one terminal line: newlines become ` | `, every
/// other control character (CR, NUL, ESC, DEL, C1 controls: terminal escape
/// sequences) is shown escaped as `\u{..}`, and the line is cut after `max`
/// characters with a note of how much was left out.
fn terminal_line(message: &str, max: usize) -> String {
    let mut out = String::with_capacity(message.len().min(max) + 32);
    for (shown, (i, c)) in message.char_indices().enumerate() {
        if shown >= max {
            out.push_str(&format!(" … ({} more bytes)", message.len() - i));
            break;
        }
        match c {
            '\n' => out.push_str(" | "),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::terminal_line;

    #[test]
    fn error_lines_are_escaped_and_bounded() {
        assert_eq!(terminal_line("a\nb", 100), "a | b");
        assert_eq!(
            terminal_line("x\x1b[2Jy\rz\0\u{7f}\u{9b}", 100),
            "x\\u{1b}[2Jy\\u{d}z\\u{0}\\u{7f}\\u{9b}"
        );
        let long = "é".repeat(5000);
        let line = terminal_line(&long, 1000);
        assert!(line.starts_with(&"é".repeat(1000)));
        assert!(line.ends_with(" … (8000 more bytes)"), "{line}");
        assert!(!terminal_line(&long, 1000).contains('\n'));
    }
}
