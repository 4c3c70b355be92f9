//! A strict reader of the Prometheus text format, written from the format's
//! description (not from the server's writer): `# HELP name text` and
//! `# TYPE name counter|gauge|...` before a family's samples, each family
//! once, samples `name{label="value",...} value` with the family's name.

use std::collections::BTreeMap;

/// One sample: its labels and value.
pub type Sample = (BTreeMap<String, String>, f64);

/// Every family: name to (type, samples).
pub type Families = BTreeMap<String, (String, Vec<Sample>)>;

/// Parses an exposition; the error says which line is wrong and why.
pub fn parse(text: &str) -> Result<Families, String> {
    let mut families = Families::new();
    let mut helped: Option<String> = None;
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            check_name(name).map_err(|e| format!("line {n}: {e}"))?;
            helped = Some(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| format!("line {n}: TYPE without a type"))?;
            if helped.as_deref() != Some(name) {
                return Err(format!("line {n}: TYPE {name} not after its HELP"));
            }
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(format!("line {n}: unknown type {kind}"));
            }
            if families.contains_key(name) {
                return Err(format!("line {n}: family {name} appears twice"));
            }
            families.insert(name.to_string(), (kind.to_string(), Vec::new()));
            current = Some(name.to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, labels, value) = sample(line).map_err(|e| format!("line {n}: {e}: {line}"))?;
        match &current {
            Some(c) if *c == name => {}
            _ => return Err(format!("line {n}: sample {name} outside its family")),
        }
        if let Some(f) = families.get_mut(&name) {
            f.1.push((labels, value));
        }
    }
    Ok(families)
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn sample(line: &str) -> Result<(String, BTreeMap<String, String>, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_name(name)?;
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let key = &rest[..eq];
            check_name(key)?;
            let r = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = r.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => return Err("unterminated escape".into()),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated label value".into()),
                }
            };
            labels.insert(key.to_string(), value);
            rest = &r[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let v = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let v = v.split(' ').next().unwrap_or("");
    let value = match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok((name.to_string(), labels, value))
}

/// The value of `family`'s sample for `tenant` (`None` if absent).
pub fn tenant_value(f: &Families, family: &str, tenant: &str) -> Option<f64> {
    f.get(family)?
        .1
        .iter()
        .find(|(l, _)| l.get("tenant").map(String::as_str) == Some(tenant))
        .map(|(_, v)| *v)
}
