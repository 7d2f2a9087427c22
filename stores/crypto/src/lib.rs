//! Encryption at rest for stored session payloads: the [`Cipher`] hook a store calls around its
//! serializer, and [`AesGcmCipher`], whose key derivation and ciphertext format are those of
//! connect-mongo 6's `createWebCryptoAdapter`, so a session sealed by either opens in the other.
//!
//! It must never let a secret or a derived key reach `Debug` output, an error or a log.
#![warn(missing_docs)]

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use sessionspec_contract::{ErrorKind, Result, Session, StoreError};
use zeroize::{Zeroize, Zeroizing};

/// Seals and opens stored session payloads. A store encrypts the serialized session before it
/// writes it and decrypts what it reads before it deserializes; keys, ids and expiry stay clear.
///
/// Implementations must be safe to share between tasks, must give a fresh ciphertext for every
/// call to `encrypt` (a random nonce), and must keep their secrets out of `Debug`.
pub trait Cipher: Send + Sync + fmt::Debug {
    /// Encrypts `plaintext` into text that can be stored as a string.
    fn encrypt(&self, plaintext: &str) -> String;

    /// Decrypts what [`Cipher::encrypt`] produced. Anything else (another key's ciphertext, a
    /// tampered payload, plaintext) is an [`ErrorKind::Decrypt`] error.
    fn decrypt(&self, ciphertext: &str) -> Result<String>;
}

/// Encrypts a session's JSON text: what a store writes in place of the plaintext payload.
pub fn encrypt_session(cipher: &dyn Cipher, session: &Session) -> String {
    cipher.encrypt(&session.to_json())
}

/// Decrypts a stored payload and parses the session in it: [`ErrorKind::Decrypt`] when it does
/// not decrypt, [`ErrorKind::Serialize`] when the plaintext is not a JSON object.
pub fn decrypt_session(cipher: &dyn Cipher, payload: &str) -> Result<Session> {
    Session::from_json(cipher.decrypt(payload)?)
}

/// How the bytes `IV ‖ ciphertext ‖ tag` are written as text (connect-mongo's `encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Encoding {
    /// Standard base64 with padding (the default).
    #[default]
    Base64,
    /// URL-safe base64 without padding, as Node's `Buffer#toString('base64url')` writes it;
    /// decoding also accepts padding.
    Base64Url,
    /// Lower-case hexadecimal.
    Hex,
}

impl Encoding {
    fn encode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Base64 => STANDARD.encode(bytes),
            Encoding::Base64Url => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
            Encoding::Hex => {
                let mut out = String::with_capacity(bytes.len() * 2);
                for b in bytes {
                    out.push(char::from_digit(u32::from(b >> 4), 16).expect("a nibble"));
                    out.push(char::from_digit(u32::from(b & 0xf), 16).expect("a nibble"));
                }
                out
            }
        }
    }

    fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Encoding::Base64 => STANDARD.decode(text).ok(),
            Encoding::Base64Url => {
                let unpadded = text.trim_end_matches('=');
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(unpadded)
                    .ok()
                    .or_else(|| URL_SAFE.decode(text).ok())
            }
            Encoding::Hex => {
                if !text.len().is_multiple_of(2) {
                    return None;
                }
                text.as_bytes()
                    .chunks(2)
                    .map(|pair| {
                        let hi = char::from(pair[0]).to_digit(16)?;
                        let lo = char::from(pair[1]).to_digit(16)?;
                        Some((hi * 16 + lo) as u8)
                    })
                    .collect()
            }
        }
    }
}

/// AES-256-GCM with a key derived by PBKDF2-HMAC-SHA256, writing `encode(IV ‖ ciphertext ‖ tag)`
/// with a random 12-byte IV and a 16-byte tag, no associated data: connect-mongo 6's
/// `createWebCryptoAdapter` with its defaults (salt [`AesGcmCipher::DEFAULT_SALT`],
/// [`AesGcmCipher::DEFAULT_ITERATIONS`] iterations, base64).
///
/// Deriving the key costs 310,000 HMAC rounds: build one cipher per store, not per operation, and
/// build it off the async executor (`spawn_blocking`).
pub struct AesGcmCipher {
    aead: Aes256Gcm,
    encoding: Encoding,
}

impl AesGcmCipher {
    /// connect-mongo's default PBKDF2 salt.
    pub const DEFAULT_SALT: &'static str = "connect-mongo:webcrypto-default-salt";
    /// connect-mongo's default PBKDF2 iteration count.
    pub const DEFAULT_ITERATIONS: u32 = 310_000;
    /// The IV (nonce) length in bytes; connect-mongo's default for AES-GCM.
    pub const IV_LEN: usize = 12;
    /// The authentication tag length in bytes (WebCrypto's default for AES-GCM).
    pub const TAG_LEN: usize = 16;

    /// A cipher with connect-mongo's defaults, its key derived from `secret` (the UTF-8 bytes of
    /// a string, or raw bytes). An empty secret is an [`ErrorKind::Invalid`] error.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<AesGcmCipher> {
        AesGcmCipher::builder(secret).build()
    }

    /// A builder for non-default salt, iteration count or encoding.
    pub fn builder(secret: impl AsRef<[u8]>) -> AesGcmCipherBuilder {
        AesGcmCipherBuilder {
            secret: Zeroizing::new(secret.as_ref().to_vec()),
            salt: AesGcmCipher::DEFAULT_SALT.as_bytes().to_vec(),
            iterations: AesGcmCipher::DEFAULT_ITERATIONS,
            encoding: Encoding::default(),
        }
    }

    fn decrypt_error(message: &str) -> StoreError {
        StoreError::new(ErrorKind::Decrypt, message)
    }
}

impl Cipher for AesGcmCipher {
    fn encrypt(&self, plaintext: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // AES-GCM refuses only plaintexts over 64 GiB, far beyond any session a store accepts.
        let sealed = self.aead.encrypt(&nonce, plaintext.as_bytes()).expect("AES-GCM encrypts any session-sized text");
        let mut out = Vec::with_capacity(AesGcmCipher::IV_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        self.encoding.encode(&out)
    }

    fn decrypt(&self, ciphertext: &str) -> Result<String> {
        let bytes = self.encoding.decode(ciphertext).ok_or_else(|| {
            AesGcmCipher::decrypt_error(&format!(
                "the stored payload is not ciphertext: it is not valid {}",
                match self.encoding {
                    Encoding::Base64 => "base64",
                    Encoding::Base64Url => "base64url",
                    Encoding::Hex => "hex",
                }
            ))
        })?;
        if bytes.len() < AesGcmCipher::IV_LEN + AesGcmCipher::TAG_LEN {
            return Err(AesGcmCipher::decrypt_error(&format!(
                "the stored payload is not ciphertext: {} bytes, shorter than an IV and a tag ({})",
                bytes.len(),
                AesGcmCipher::IV_LEN + AesGcmCipher::TAG_LEN
            )));
        }
        let (iv, sealed) = bytes.split_at(AesGcmCipher::IV_LEN);
        let plain = self.aead.decrypt(Nonce::from_slice(iv), sealed).map_err(|_| {
            AesGcmCipher::decrypt_error(
                "the stored payload failed authentication: it was encrypted under another secret or altered",
            )
        })?;
        String::from_utf8(plain).map_err(|_| {
            StoreError::new(ErrorKind::Serialize, "the decrypted payload is not UTF-8 text, so it holds no session")
        })
    }
}

impl fmt::Debug for AesGcmCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesGcmCipher")
            .field("algorithm", &"AES-256-GCM")
            .field("encoding", &self.encoding)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// Builds an [`AesGcmCipher`] with non-default parameters.
pub struct AesGcmCipherBuilder {
    secret: Zeroizing<Vec<u8>>,
    salt: Vec<u8>,
    iterations: u32,
    encoding: Encoding,
}

impl AesGcmCipherBuilder {
    /// The PBKDF2 salt (connect-mongo's `salt`).
    pub fn salt(mut self, salt: impl AsRef<[u8]>) -> Self {
        self.salt = salt.as_ref().to_vec();
        self
    }

    /// The PBKDF2 iteration count (connect-mongo's `iterations`).
    pub fn iterations(mut self, iterations: u32) -> Self {
        self.iterations = iterations;
        self
    }

    /// How ciphertext is written as text (connect-mongo's `encoding`).
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Derives the key. An empty secret or a zero iteration count is an [`ErrorKind::Invalid`]
    /// error.
    pub fn build(self) -> Result<AesGcmCipher> {
        if self.secret.is_empty() {
            return Err(StoreError::new(ErrorKind::Invalid, "encryption needs a non-empty secret"));
        }
        if self.iterations == 0 {
            return Err(StoreError::new(ErrorKind::Invalid, "the PBKDF2 iteration count must be at least 1"));
        }
        let mut key = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(&self.secret, &self.salt, self.iterations, &mut key);
        let aead = Aes256Gcm::new_from_slice(&key).expect("a 32-byte key is an AES-256 key");
        key.zeroize();
        Ok(AesGcmCipher { aead, encoding: self.encoding })
    }
}

impl fmt::Debug for AesGcmCipherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesGcmCipherBuilder")
            .field("secret", &"[redacted]")
            .field("salt_len", &self.salt.len())
            .field("iterations", &self.iterations)
            .field("encoding", &self.encoding)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    /// Few iterations: these tests are about the format and the errors, not the key's strength.
    fn quick(secret: &str) -> AesGcmCipher {
        AesGcmCipher::builder(secret).iterations(1_000).build().unwrap()
    }

    #[rstest]
    #[case::base64(Encoding::Base64)]
    #[case::base64url(Encoding::Base64Url)]
    #[case::hex(Encoding::Hex)]
    fn round_trips_with_a_fresh_iv_each_time(#[case] encoding: Encoding) {
        let cipher = AesGcmCipher::builder("s3cret").iterations(1_000).encoding(encoding).build().unwrap();
        let text = r#"{"cookie":{"expires":null},"note":"héllo 🦀"}"#;
        let a = cipher.encrypt(text);
        let b = cipher.encrypt(text);
        assert_ne!(a, b, "two encryptions of one text must differ");
        assert_eq!(cipher.decrypt(&a).unwrap(), text);
        assert_eq!(encoding.decode(&a).unwrap().len(), AesGcmCipher::IV_LEN + text.len() + AesGcmCipher::TAG_LEN);
    }

    #[test]
    fn wrong_key_tampering_and_plaintext_are_decrypt_errors() {
        let cipher = quick("right");
        let sealed = cipher.encrypt("{}");
        assert_eq!(quick("wrong").decrypt(&sealed).unwrap_err().kind(), ErrorKind::Decrypt);

        let mut bytes = STANDARD.decode(&sealed).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        assert_eq!(cipher.decrypt(&STANDARD.encode(&bytes)).unwrap_err().kind(), ErrorKind::Decrypt);

        for plaintext in [r#"{"cookie":{}}"#, "", "AAAA", "not base64 at all"] {
            assert_eq!(cipher.decrypt(plaintext).unwrap_err().kind(), ErrorKind::Decrypt, "{plaintext:?}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_and_errors() {
        let secret = "hunter2-very-secret";
        let cipher = quick(secret);
        let builder = AesGcmCipher::builder(secret);
        let error = quick("other").decrypt(&cipher.encrypt("{}")).unwrap_err();
        for text in [format!("{cipher:?}"), format!("{builder:?}"), format!("{error:?}"), error.chain()] {
            assert!(!text.contains(secret), "{text}");
        }
        assert_eq!(AesGcmCipher::new("").unwrap_err().kind(), ErrorKind::Invalid);
    }

    #[test]
    fn sessions_seal_and_open() {
        let cipher = quick("k");
        let session = Session::from_json(r#"{"cookie":{"originalMaxAge":null},"user":"alice"}"#).unwrap();
        let sealed = encrypt_session(&cipher, &session);
        assert!(!sealed.contains("alice"));
        assert_eq!(decrypt_session(&cipher, &sealed).unwrap(), session);
        assert_eq!(decrypt_session(&cipher, &cipher.encrypt("[1]")).unwrap_err().kind(), ErrorKind::Serialize);
    }

    #[test]
    fn default_key_matches_a_known_derivation() {
        // The published PBKDF2-HMAC-SHA256 vector for ("password", "salt", 1 iteration, 32 bytes).
        let mut key = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"password", b"salt", 1, &mut key);
        assert_eq!(Encoding::Hex.encode(&key), "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
    }
}
