//! The envelope: one message to one recipient (DESIGN.md §7).
//!
//! ```text
//! Envelope {
//!   header: Signed<EnvelopeHeader>        domain "trialog/v1/envelope", by the sender
//!   fields: [ { field, ciphertext } ]      same order as header.manifest
//! }
//! manifest[i] = { field, sha256: hex SHA-256(ciphertext_i) }
//! ciphertext_i = age(X25519 → recipient)( JSON { message_id, field, value } )
//! ```
//!
//! The plaintext names its message and field, so a ciphertext moved to another message or
//! another field is caught after decryption; the signed header binds recipient, case,
//! consent and every ciphertext hash, so a signature cannot be replayed elsewhere.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::catalogue::FieldId;
use crate::encoding::{B64, sha256_hex};
use crate::ids::{AccountId, CaseId, ConsentId, Fingerprint, MessageId};
use crate::keys::Identity;
use crate::roles::MessageKind;
use crate::signed::{Signed, SignedKind};

/// Most fields in one envelope.
pub const MAX_FIELDS: usize = 64;
/// Largest ciphertext of one field, bytes.
pub const MAX_FIELD_CIPHERTEXT: usize = 64 * 1024;
/// How far a header's created-at may be from the server's clock, seconds.
pub const MAX_CLOCK_SKEW: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    pub field: FieldId,
    /// Hex SHA-256 of the field's ciphertext.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeHeader {
    pub message_id: MessageId,
    pub created_at: i64,
    pub kind: MessageKind,
    pub case_id: CaseId,
    pub sender: AccountId,
    pub recipient: AccountId,
    pub recipient_fingerprint: Fingerprint,
    pub consent_id: ConsentId,
    pub manifest: Vec<ManifestEntry>,
    /// The sender overrode the leak guard for a free-text field (recorded, not hidden).
    pub leak_guard_override: bool,
}

impl SignedKind for EnvelopeHeader {
    const DOMAIN: &'static str = "trialog/v1/envelope";
}

impl EnvelopeHeader {
    pub fn fields(&self) -> Vec<FieldId> {
        self.manifest.iter().map(|m| m.field).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptedField {
    pub field: FieldId,
    pub ciphertext: B64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub header: Signed<EnvelopeHeader>,
    pub fields: Vec<EncryptedField>,
}

/// What is inside each field's ciphertext.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldPlaintext {
    message_id: MessageId,
    field: FieldId,
    value: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the envelope carries no field")]
    Empty,
    #[error("the envelope carries more than {MAX_FIELDS} fields")]
    TooManyFields,
    #[error("field {0} appears twice")]
    DuplicateField(FieldId),
    #[error("the encrypted fields do not match the signed manifest")]
    ManifestMismatch,
    #[error("the ciphertext of {0} does not match its hash in the signed manifest")]
    HashMismatch(FieldId),
    #[error("the ciphertext of {0} is larger than {MAX_FIELD_CIPHERTEXT} bytes")]
    FieldTooLarge(FieldId),
    #[error("encryption failed")]
    Encrypt,
    #[error("field {0} cannot be decrypted with this key")]
    Decrypt(FieldId),
    #[error("field {0} was moved from another message or field")]
    Rebound(FieldId),
    #[error("field {field}: {why}")]
    BadValue { field: FieldId, why: String },
    #[error("cannot serialize the header: {0}")]
    Serialize(String),
}

impl EnvelopeError {
    pub fn code(&self) -> crate::error::Code {
        match self {
            EnvelopeError::Empty => crate::error::Code::EnvelopeEmpty,
            EnvelopeError::TooManyFields => crate::error::Code::TooManyFields,
            EnvelopeError::DuplicateField(_) => crate::error::Code::DuplicateField,
            EnvelopeError::ManifestMismatch => crate::error::Code::ManifestMismatch,
            EnvelopeError::HashMismatch(_) => crate::error::Code::HashMismatch,
            EnvelopeError::FieldTooLarge(_) => crate::error::Code::FieldTooLarge,
            EnvelopeError::Encrypt => crate::error::Code::EncryptFailed,
            EnvelopeError::Decrypt(_) => crate::error::Code::DecryptFailed,
            EnvelopeError::Rebound(_) => crate::error::Code::FieldRebound,
            EnvelopeError::BadValue { .. } => crate::error::Code::BadValue,
            EnvelopeError::Serialize(_) => crate::error::Code::MalformedHeader,
        }
    }
}

/// Encrypts each value to every one of the recipient's devices (`recipients`: one age file
/// with a stanza per device, any of which opens it), fills the manifest, and signs the
/// header. The header's `manifest` is replaced by the one computed here.
pub fn seal(
    sender: &Identity,
    mut header: EnvelopeHeader,
    recipients: &[age::x25519::Recipient],
    values: &[(FieldId, serde_json::Value)],
) -> Result<Envelope, EnvelopeError> {
    let mut fields = Vec::with_capacity(values.len());
    header.manifest.clear();
    for (field, value) in values {
        field
            .def()
            .check_value(value)
            .map_err(|e| EnvelopeError::BadValue {
                field: *field,
                why: e.to_string(),
            })?;
        let pt = serde_json::to_vec(&FieldPlaintext {
            message_id: header.message_id.clone(),
            field: *field,
            value: value.clone(),
        })
        .map_err(|e| EnvelopeError::Serialize(e.to_string()))?;
        let ct = encrypt_to_all(recipients, &pt)?;
        header.manifest.push(ManifestEntry {
            field: *field,
            sha256: sha256_hex(&[&ct]),
        });
        fields.push(EncryptedField {
            field: *field,
            ciphertext: B64(ct),
        });
    }
    check_manifest(&header)?;
    let header = Signed::sign(&header, sender.signing_key())
        .map_err(|e| EnvelopeError::Serialize(e.to_string()))?;
    Ok(Envelope { header, fields })
}

/// One age file that each of `recipients` can open.
fn encrypt_to_all(
    recipients: &[age::x25519::Recipient],
    plaintext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    use std::io::Write;
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|_| EnvelopeError::Encrypt)?;
    let mut ct = Vec::with_capacity(plaintext.len() + 200 * recipients.len());
    let mut w = encryptor
        .wrap_output(&mut ct)
        .map_err(|_| EnvelopeError::Encrypt)?;
    w.write_all(plaintext).map_err(|_| EnvelopeError::Encrypt)?;
    w.finish().map_err(|_| EnvelopeError::Encrypt)?;
    Ok(ct)
}

/// Shape of the manifest alone: not empty, not too long, no field twice.
pub fn check_manifest(header: &EnvelopeHeader) -> Result<(), EnvelopeError> {
    if header.manifest.is_empty() {
        return Err(EnvelopeError::Empty);
    }
    if header.manifest.len() > MAX_FIELDS {
        return Err(EnvelopeError::TooManyFields);
    }
    let mut seen = BTreeSet::new();
    for m in &header.manifest {
        if !seen.insert(m.field) {
            return Err(EnvelopeError::DuplicateField(m.field));
        }
    }
    Ok(())
}

/// The ciphertexts are exactly those the signed manifest names, within size limits.
/// Run by the server before storing and by the recipient before decrypting.
pub fn check_ciphertexts(
    header: &EnvelopeHeader,
    fields: &[EncryptedField],
) -> Result<(), EnvelopeError> {
    check_manifest(header)?;
    if fields.len() != header.manifest.len() {
        return Err(EnvelopeError::ManifestMismatch);
    }
    for (m, f) in header.manifest.iter().zip(fields) {
        if m.field != f.field {
            return Err(EnvelopeError::ManifestMismatch);
        }
        if f.ciphertext.0.len() > MAX_FIELD_CIPHERTEXT {
            return Err(EnvelopeError::FieldTooLarge(f.field));
        }
        // Not secret: both values are public; a plain comparison is fine here.
        if sha256_hex(&[&f.ciphertext.0]) != m.sha256 {
            return Err(EnvelopeError::HashMismatch(f.field));
        }
    }
    Ok(())
}

/// Decrypts one field and checks that it was made for this message and this field.
pub fn open_field(
    me: &Identity,
    header: &EnvelopeHeader,
    field: &EncryptedField,
) -> Result<serde_json::Value, EnvelopeError> {
    let pt = age::decrypt(me.age_identity(), &field.ciphertext.0)
        .map_err(|_| EnvelopeError::Decrypt(field.field))?;
    let pt: FieldPlaintext =
        serde_json::from_slice(&pt).map_err(|_| EnvelopeError::Rebound(field.field))?;
    if pt.message_id != header.message_id || pt.field != field.field {
        return Err(EnvelopeError::Rebound(field.field));
    }
    field
        .field
        .def()
        .check_value(&pt.value)
        .map_err(|e| EnvelopeError::BadValue {
            field: field.field,
            why: e.to_string(),
        })?;
    Ok(pt.value)
}
