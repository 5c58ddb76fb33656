//! pmc: a memcached command-line client over this crate's Rust API, for
//! operators: one server or a cluster (keys placed as pymemcache's
//! HashClient places them), binary-safe values, exit statuses by class.
//! `pmc --help` is the manual; `pmc man` prints it as a man page.

// A binary's root looks for modules beside it; these live in src/bin/pmc/.
#[path = "pmc/commands.rs"]
mod commands;
#[path = "pmc/help.rs"]
mod help;
#[path = "pmc/servers.rs"]
mod servers;
#[path = "pmc/status.rs"]
mod status;

use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand};
use pymemcache::tls::TlsVersion;
use pymemcache::KeyForm;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `pmc --version`: the tool's and the library's versions (one package).
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nlibrary: pymemcache-rs ",
    env!("CARGO_PKG_VERSION"),
    " (libpymemcache; memcached ASCII protocol; key placement: pymemcache's HashClient)"
);

#[derive(Parser, Debug)]
#[command(
    name = "pmc",
    version,
    long_version = LONG_VERSION,
    about = "A memcached client for the command line: one server or a cluster, \
             keys placed as pymemcache's HashClient places them",
    long_about = help::LONG_ABOUT,
    after_long_help = help::AFTER_LONG_HELP,
    subcommand_required = true,
    arg_required_else_help = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Cmd,
}

/// Options every command takes, before or after the command's name.
#[derive(Args, Debug)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Servers: HOST[:PORT],[IPV6]:PORT,/socket/path... (repeatable)
    ///
    /// Entries are separated by commas; the port defaults to 11211; a path
    /// (starting with / or .) is a UNIX socket. Repeat to add more. Without
    /// it, $MEMCACHED_SERVERS is read (SERVERS in `pmc --help`).
    #[arg(short = 's', long = "servers", value_name = "LIST", global = true,
          action = ArgAction::Append, verbatim_doc_comment)]
    pub servers: Vec<String>,

    /// Limit on connecting to a server, in seconds (0: none)
    #[arg(long, value_name = "SECONDS", default_value = "4", global = true,
          value_parser = parse_seconds)]
    pub connect_timeout: Seconds,

    /// Limit on each read and write, in seconds (0: none)
    #[arg(long, value_name = "SECONDS", default_value = "5", global = true,
          value_parser = parse_seconds)]
    pub timeout: Seconds,

    /// Limit on each call to a server as a whole, in seconds (0: none)
    ///
    /// It bounds connecting, writing the request and reading the whole reply
    /// together, where --connect-timeout and --timeout each bound one step
    /// (a server that answers slowly but steadily never trips --timeout).
    /// Past it the call fails with "the call's deadline passed" (exit 3).
    #[arg(long, value_name = "SECONDS", default_value = "0", global = true,
          value_parser = parse_seconds, verbatim_doc_comment)]
    pub deadline: Seconds,

    /// Prepend PREFIX to every key (`keys`: list only those, without it)
    #[arg(long, value_name = "PREFIX", global = true)]
    pub key_prefix: Option<OsString>,

    /// Several servers: place keys as pymemcache does for Python callers
    /// passing keys as `text` (str, the default) or as `python-bytes`
    #[arg(long, value_name = "FORM", default_value = "text", global = true,
          value_parser = parse_key_form)]
    pub hash_key_form: KeyForm,

    /// Connect with TLS (memcached -Z), trusting the system's CA store
    /// unless --tls-ca-file or --tls-ca-dir names the CAs. Every --tls-*
    /// option turns TLS on as well.
    #[arg(long, global = true, verbatim_doc_comment)]
    pub tls: bool,

    /// TLS: trust the CA certificates of this PEM file
    #[arg(long, value_name = "PATH", global = true)]
    pub tls_ca_file: Option<PathBuf>,

    /// TLS: trust the CA certificates of the PEM files in this directory
    #[arg(long, value_name = "DIR", global = true)]
    pub tls_ca_dir: Option<PathBuf>,

    /// TLS: also trust the system's CA store beside --tls-ca-file/--tls-ca-dir
    #[arg(long, global = true)]
    pub tls_system_roots: bool,

    /// TLS: the client certificate chain (PEM) for mutual TLS (needs --tls-key)
    #[arg(long, value_name = "PATH", global = true, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS: the client certificate's private key (PEM)
    #[arg(long, value_name = "PATH", global = true, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// TLS: the name sent for SNI and checked against the certificate
    /// (default: the host of each server's address)
    #[arg(long, value_name = "NAME", global = true, verbatim_doc_comment)]
    pub tls_server_name: Option<String>,

    /// TLS: the oldest version accepted, 1.2 (the default) or 1.3
    #[arg(long, value_name = "VERSION", global = true, value_parser = parse_tls_version)]
    pub tls_min_version: Option<TlsVersion>,

    /// TLS without checking the server's certificate: for throwaway test
    /// servers only (anyone on the path can read and change the traffic)
    #[arg(long, global = true, verbatim_doc_comment)]
    pub tls_insecure_no_verify_testing_only: bool,

    /// Log in as USER (memcached -Y, ASCII authentication); the password is
    /// read from --password-file, else from $MEMCACHED_PASSWORD
    #[arg(long, value_name = "USER", global = true, verbatim_doc_comment)]
    pub username: Option<String>,

    /// The password for --username: the first line of FILE
    #[arg(long, value_name = "FILE", global = true, requires = "username")]
    pub password_file: Option<PathBuf>,

    /// No message for misses, not stored, not found (errors still)
    ///
    /// No message on stderr for misses, not stored and not found (the exit
    /// status still says so), and no output from `ping`. Errors are always
    /// reported.
    #[arg(short, long, global = true, verbatim_doc_comment)]
    pub quiet: bool,

    /// After the command, print the servers' metrics (requests, hits,
    /// misses, errors, bytes, latency) to stderr in Prometheus text format
    #[arg(long, global = true)]
    pub metrics: bool,
}

fn parse_key_form(s: &str) -> Result<KeyForm, String> {
    match s {
        "text" => Ok(KeyForm::Text),
        "python-bytes" => Ok(KeyForm::PythonBytes),
        _ => Err(format!("{s:?} is not a key form: text or python-bytes")),
    }
}

fn parse_tls_version(s: &str) -> Result<TlsVersion, String> {
    match s {
        "1.2" => Ok(TlsVersion::Tls12),
        "1.3" => Ok(TlsVersion::Tls13),
        _ => Err(format!("{s:?} is not a TLS version: 1.2 or 1.3")),
    }
}

/// A timeout; `None` blocks.
#[derive(Debug, Clone, Copy)]
pub struct Seconds(pub Option<Duration>);

fn parse_seconds(s: &str) -> Result<Seconds, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("{s:?} is not a number of seconds from 0 to 1e9"));
    }
    Ok(Seconds((secs > 0.0).then(|| Duration::from_secs_f64(secs))))
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Print the values of keys (several keys: a "VALUE KEY FLAGS BYTES" header before each)
    #[command(long_about = help::GET)]
    Get(GetArgs),
    /// Print values with their CAS uniques ("VALUE KEY FLAGS BYTES CAS" headers)
    #[command(long_about = help::GETS)]
    Gets(KeyList),
    /// Get and touch: print values and set their expiry
    Gat(GatArgs),
    /// Get and touch, with CAS uniques in the headers
    Gats(GatsArgs),
    /// Store a value
    #[command(long_about = help::SET, override_usage = help::STORE_USAGE)]
    Set(StoreArgs),
    /// Store a value only if the key is absent
    #[command(long_about = help::SET, override_usage = help::STORE_USAGE)]
    Add(StoreArgs),
    /// Store a value only if the key is present
    #[command(long_about = help::SET, override_usage = help::STORE_USAGE)]
    Replace(StoreArgs),
    /// Append to an existing value
    #[command(long_about = help::SET, override_usage = help::CONCAT_USAGE)]
    Append(ConcatArgs),
    /// Prepend to an existing value
    #[command(long_about = help::SET, override_usage = help::CONCAT_USAGE)]
    Prepend(ConcatArgs),
    /// Store a value only if the item is unchanged since `gets` read CAS
    #[command(long_about = help::CAS, override_usage = help::CAS_USAGE)]
    Cas(CasArgs),
    /// Delete keys
    #[command(visible_alias = "rm")]
    Delete(DeleteArgs),
    /// Add to a decimal counter and print the new value
    Incr(CounterArgs),
    /// Subtract from a decimal counter (stops at 0) and print the new value
    Decr(CounterArgs),
    /// Set a new expiry on keys
    Touch(TouchArgs),
    /// Exit 0 if every key exists, 1 if some do not (values are not printed)
    #[command(visible_alias = "exists")]
    Exist(KeyList),
    /// Print the server each key is placed on ("KEY SERVER" lines)
    #[command(long_about = help::LOCATE)]
    Locate(KeyList),
    /// Print each server's stats, grouped per server like memcstat
    #[command(long_about = help::STATS)]
    Stats(StatsArgs),
    /// Print each server's version ("SERVER VERSION" lines)
    Version,
    /// Invalidate every item on every server, now or after a delay
    #[command(name = "flush-all", visible_aliases = ["flush", "flush_all"])]
    FlushAll(FlushArgs),
    /// Check that every server answers ("SERVER ok MS ms" lines)
    Ping,
    /// List the keys of every server (lru_crawler metadump)
    #[command(long_about = help::KEYS, visible_alias = "dump")]
    Keys(KeysArgs),
    /// Send one meta command (mg, ms, md, ma; memcached 1.6.10+) and print its reply
    #[command(long_about = help::META)]
    Meta(MetaArgs),
    /// Print the manual as a man page (roff): pmc man > pmc.1; pmc man get > pmc-get.1
    Man(ManArgs),
}

#[derive(Args, Debug)]
pub struct MetaArgs {
    /// The meta command: mg, ms, md or ma.
    #[arg(value_name = "COMMAND", value_parser = ["mg", "ms", "md", "ma"])]
    pub command: String,
    /// The key.
    #[arg(value_name = "KEY")]
    pub key: OsString,
    /// The meta flags as protocol tokens (v f t c s h l k N30 R10 T60 I MA C123 ...).
    #[arg(value_name = "FLAG")]
    pub flags: Vec<String>,
    /// The data block of ms; "-" reads it from stdin.
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub value: Option<OsString>,
}

#[derive(Args, Debug)]
pub struct KeyList {
    /// The keys.
    #[arg(value_name = "KEY", required = true)]
    pub keys: Vec<OsString>,
}

#[derive(Args, Debug)]
pub struct GetArgs {
    /// Write the value's bytes exactly, with no newline (one key only).
    #[arg(short, long, conflicts_with = "headers")]
    pub raw: bool,
    /// Print the "VALUE KEY FLAGS BYTES" header for one key too.
    #[arg(short = 'H', long)]
    pub headers: bool,
    #[command(flatten)]
    pub keys: KeyList,
}

#[derive(Args, Debug)]
pub struct GatArgs {
    /// The new expiry: seconds (up to 30 days), a UNIX time, 0 for none
    #[arg(short, long, allow_negative_numbers = true)]
    pub expire: i64,
    #[command(flatten)]
    pub get: GetArgs,
}

#[derive(Args, Debug)]
pub struct GatsArgs {
    /// The new expiry: seconds (up to 30 days), a UNIX time, 0 for none
    #[arg(short, long, allow_negative_numbers = true)]
    pub expire: i64,
    #[command(flatten)]
    pub keys: KeyList,
}

/// Where a stored value comes from.
#[derive(Args, Debug)]
pub struct ValueArgs {
    /// The value; "-" reads it from stdin (byte for byte)
    #[arg(
        value_name = "VALUE",
        allow_hyphen_values = true,
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    pub value: Option<OsString>,
    /// Read the value from a file (byte for byte).
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct StoreArgs {
    /// The key.
    #[arg(value_name = "KEY")]
    pub key: OsString,
    #[command(flatten)]
    pub value: ValueArgs,
    /// The item's flags (a 32-bit number stored with the value).
    #[arg(short = 'F', long, default_value_t = 0)]
    pub flags: u32,
    /// Expiry: seconds (up to 30 days), a UNIX time, 0 for none
    #[arg(short, long, default_value_t = 0, allow_negative_numbers = true)]
    pub expire: i64,
    /// Do not wait for the reply (the exit status cannot tell a miss).
    #[arg(long)]
    pub noreply: bool,
}

#[derive(Args, Debug)]
pub struct ConcatArgs {
    /// The key.
    #[arg(value_name = "KEY")]
    pub key: OsString,
    #[command(flatten)]
    pub value: ValueArgs,
    /// Do not wait for the reply (the exit status cannot tell a miss).
    #[arg(long)]
    pub noreply: bool,
}

#[derive(Args, Debug)]
pub struct CasArgs {
    /// The key.
    #[arg(value_name = "KEY")]
    pub key: OsString,
    /// The CAS unique `pmc gets` printed.
    #[arg(value_name = "CAS")]
    pub cas: u64,
    #[command(flatten)]
    pub value: ValueArgs,
    /// The item's flags.
    #[arg(short = 'F', long, default_value_t = 0)]
    pub flags: u32,
    /// Expiry: seconds (up to 30 days), a UNIX time, 0 for none
    #[arg(short, long, default_value_t = 0, allow_negative_numbers = true)]
    pub expire: i64,
    /// Do not wait for the reply (the exit status cannot tell a conflict).
    #[arg(long)]
    pub noreply: bool,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub keys: KeyList,
    /// Do not wait for the replies (the exit status cannot tell a miss).
    #[arg(long)]
    pub noreply: bool,
}

#[derive(Args, Debug)]
pub struct CounterArgs {
    /// The key.
    #[arg(value_name = "KEY")]
    pub key: OsString,
    /// How much to add or subtract.
    #[arg(value_name = "DELTA", default_value_t = 1)]
    pub delta: u64,
    /// Do not wait for the reply (nothing is printed).
    #[arg(long)]
    pub noreply: bool,
}

#[derive(Args, Debug)]
pub struct TouchArgs {
    /// The new expiry: seconds (up to 30 days), a UNIX time, 0 for none
    #[arg(short, long, allow_negative_numbers = true)]
    pub expire: i64,
    #[command(flatten)]
    pub keys: KeyList,
    /// Do not wait for the replies (the exit status cannot tell a miss).
    #[arg(long)]
    pub noreply: bool,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Nothing for the general stats, or items, slabs, settings, conns...
    #[arg(value_name = "ARG")]
    pub args: Vec<String>,
    /// One "SERVER NAME VALUE" line per stat, for grep and awk.
    #[arg(long)]
    pub flat: bool,
}

#[derive(Args, Debug)]
pub struct FlushArgs {
    /// Seconds to wait before invalidating (memcflush's --expire).
    #[arg(short, long, visible_alias = "expire", default_value_t = 0)]
    pub delay: i64,
    /// Do not wait for the replies.
    #[arg(long)]
    pub noreply: bool,
}

#[derive(Args, Debug)]
pub struct KeysArgs {
    /// Print "SERVER KEY META..." (exp, la, cas, fetch, cls, size)
    #[arg(short, long)]
    pub long: bool,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// A command, for its own page (pmc-COMMAND).
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let status = match &cli.command {
        Cmd::Man(args) => commands::man(Cli::command(), args),
        _ => commands::run(&cli),
    };
    ExitCode::from(status as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("0").unwrap().0, None);
        assert_eq!(
            parse_seconds("1.5").unwrap().0,
            Some(Duration::from_millis(1500))
        );
        for bad in ["-1", "x", "inf", "NaN", ""] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}
