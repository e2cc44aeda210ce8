//! JSON log lines on stderr, one object each (serde_json), with Python's level names (CG_LOG_LEVEL).

use std::sync::atomic::{AtomicU8, Ordering};

pub const DEBUG: u8 = 10;
pub const INFO: u8 = 20;
pub const WARN: u8 = 30;
pub const ERROR: u8 = 40;
static LEVEL: AtomicU8 = AtomicU8::new(INFO);

pub fn set_level(name: &str) {
    let l = match name.to_ascii_uppercase().as_str() {
        "DEBUG" => DEBUG,
        "WARNING" | "WARN" => WARN,
        "ERROR" | "CRITICAL" => ERROR,
        _ => INFO,
    };
    LEVEL.store(l, Ordering::Relaxed);
}

pub fn log(level: u8, msg: &str, fields: &[(&str, &str)]) {
    if level < LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let name = match level {
        DEBUG => "DEBUG",
        INFO => "INFO",
        WARN => "WARNING",
        _ => "ERROR",
    };
    let mut line = serde_json::Map::new();
    let time = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    line.insert("time".into(), time.into());
    line.insert("level".into(), name.into());
    line.insert("service".into(), "gateway-edge".into());
    line.insert("msg".into(), msg.into());
    for (k, v) in fields {
        line.insert((*k).into(), (*v).into());
    }
    eprintln!("{}", serde_json::Value::Object(line));
}
