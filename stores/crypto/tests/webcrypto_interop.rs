//! Interop with an independent implementation of connect-mongo's `createWebCryptoAdapter`
//! algorithm: a few lines of Node's WebCrypto (PBKDF2-SHA256 key, AES-GCM, `IV ‖ ciphertext ‖
//! tag`), written from the algorithm's description, run with `node`. Each side decrypts what the
//! other encrypted. Needs `node` (Node.js 20 or later) on PATH; no server.

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rstest::rstest;
use sessionspec_crypto::{AesGcmCipher, Cipher, Encoding};

/// Derives the key as connect-mongo documents it and encrypts or decrypts one message. The
/// parameters come from the environment (never from argv, where a secret would show in `ps`),
/// the message from stdin; texts travel base64-encoded so any Unicode survives.
const WEBCRYPTO: &str = r#"
const webcrypto = globalThis.crypto;
const subtle = webcrypto.subtle;
const env = process.env;
const utf8 = new TextEncoder();
const encode = (bytes) => Buffer.from(bytes).toString(env.ENCODING);
const decode = (text) => new Uint8Array(Buffer.from(text, env.ENCODING));
(async () => {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const input = Buffer.concat(chunks).toString();
  const base = await subtle.importKey('raw', utf8.encode(env.SECRET), 'PBKDF2', false, ['deriveKey']);
  const key = await subtle.deriveKey(
    { name: 'PBKDF2', salt: utf8.encode(env.SALT), iterations: Number(env.ITERATIONS), hash: 'SHA-256' },
    base, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  if (env.MODE === 'encrypt') {
    const iv = webcrypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, key, Buffer.from(input, 'base64')));
    const out = new Uint8Array(iv.length + sealed.length);
    out.set(iv, 0);
    out.set(sealed, iv.length);
    process.stdout.write(encode(out));
  } else {
    const bytes = decode(input);
    const plain = await subtle.decrypt({ name: 'AES-GCM', iv: bytes.slice(0, 12) }, key, bytes.slice(12));
    process.stdout.write(Buffer.from(plain).toString('base64'));
  }
})().catch((e) => { process.stderr.write(String(e && e.name) + ': ' + String(e && e.message)); process.exit(3); });
"#;

struct Params {
    secret: &'static str,
    salt: &'static str,
    iterations: u32,
    encoding: Encoding,
}

impl Params {
    fn node_encoding(&self) -> &'static str {
        match self.encoding {
            Encoding::Hex => "hex",
            Encoding::Base64Url => "base64url",
            _ => "base64",
        }
    }

    fn cipher(&self) -> AesGcmCipher {
        AesGcmCipher::builder(self.secret)
            .salt(self.salt)
            .iterations(self.iterations)
            .encoding(self.encoding)
            .build()
            .unwrap()
    }
}

/// Runs the WebCrypto script; `Err` carries Node's error name when it fails.
fn node(params: &Params, mode: &str, input: &str) -> Result<String, String> {
    let mut child = Command::new("node")
        .arg("-e")
        .arg(WEBCRYPTO)
        .env("MODE", mode)
        .env("SECRET", params.secret)
        .env("SALT", params.salt)
        .env("ITERATIONS", params.iterations.to_string())
        .env("ENCODING", params.node_encoding())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("this test needs `node` (Node.js 20 or later, for WebCrypto) on PATH, and starting it failed: {e}")
        });
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write the message to node");
    let out = child.wait_with_output().expect("node ran");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("node printed text"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

const DEFAULTS: Params = Params {
    secret: "correct horse battery staple",
    salt: AesGcmCipher::DEFAULT_SALT,
    iterations: AesGcmCipher::DEFAULT_ITERATIONS,
    encoding: Encoding::Base64,
};
const CUSTOM: Params =
    Params { secret: "clé secrète 🔑", salt: "app-salt", iterations: 1_000, encoding: Encoding::Hex };
const URL_SAFE: Params = Params { secret: "k", salt: "s", iterations: 2, encoding: Encoding::Base64Url };

fn session_text() -> String {
    serde_json::json!({
        "cookie": {"originalMaxAge": 3_600_000, "expires": "2030-01-01T00:00:10.000Z", "httpOnly": true, "path": "/"},
        "user": "alice", "note": "naïve café 🦀 \"quoted\" \\ \u{1}", "big": "x".repeat(70_000)
    })
    .to_string()
}

#[rstest]
#[case::connect_mongo_defaults(DEFAULTS)]
#[case::custom_salt_iterations_hex(CUSTOM)]
#[case::base64url(URL_SAFE)]
fn rust_opens_what_webcrypto_sealed(#[case] params: Params) {
    let text = session_text();
    let sealed = node(&params, "encrypt", &STANDARD.encode(&text)).expect("node encrypts");
    assert_eq!(params.cipher().decrypt(&sealed).expect("Rust decrypts Node's ciphertext"), text);
}

#[rstest]
#[case::connect_mongo_defaults(DEFAULTS)]
#[case::custom_salt_iterations_hex(CUSTOM)]
#[case::base64url(URL_SAFE)]
fn webcrypto_opens_what_rust_sealed(#[case] params: Params) {
    let text = session_text();
    let sealed = params.cipher().encrypt(&text);
    let opened = node(&params, "decrypt", &sealed).expect("node decrypts Rust's ciphertext");
    assert_eq!(String::from_utf8(STANDARD.decode(opened).unwrap()).unwrap(), text);
}

#[test]
fn webcrypto_rejects_rust_ciphertext_under_another_secret() {
    let sealed = DEFAULTS.cipher().encrypt("{}");
    let other = Params { secret: "another secret", ..DEFAULTS };
    let error = node(&other, "decrypt", &sealed).expect_err("a wrong key must not decrypt");
    assert!(error.starts_with("OperationError"), "{error}");
}
