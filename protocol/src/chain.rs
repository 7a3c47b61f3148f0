//! The consents of one case over time: versions linked by the `supersedes` each new version
//! signs, and the revocations the patient signed.
//!
//! ```text
//! recipient A:  v1 <- v2 <- v3 (head)        v3 covers what A may still receive
//! recipient B:  v1 (revoked)   v2 (head)     a new chain starts only after a revocation
//! ```
//!
//! Everything here is decided from signed facts the caller has verified (consents opened
//! with the patient's key, revocations likewise), plus the time each revocation took effect.
//! The server, the sender's client and the recipient's client build the same `Chain` and
//! so agree on which version is current and on what a version still allows.

use std::collections::HashMap;

use crate::consent::{Consent, Revocation, happened_by};
use crate::ids::{AccountId, CaseId, ConsentId};

/// Most versions of one patient's consent to one physician: beyond any real use (a new
/// version a week for two years), and a bound on what each decision walks.
pub const MAX_VERSIONS_PER_RECIPIENT: usize = 100;

/// One signed version and what happened to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub consent: Consent,
    /// When the revocation took effect (the server's receipt), if it is revoked.
    pub revoked_at: Option<i64>,
    /// When the version was accepted by the server (its successor takes effect then).
    pub accepted_at: i64,
    /// Replaced by a version this party may not see (need to know: a sender sees only the
    /// versions that name them). Only in a `Chain::partial` view.
    pub replaced_unseen: bool,
}

/// Why a set of consents is not one consistent history.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChainError {
    #[error("consent {0} belongs to another case or patient")]
    Foreign(ConsentId),
    #[error("consent {0} appears twice")]
    Duplicate(ConsentId),
    #[error("consent {0} replaces a consent that is not in the case")]
    DanglingSupersedes(ConsentId),
    #[error("consent {0} replaces a consent for another recipient")]
    CrossRecipient(ConsentId),
    #[error("consent {0} is replaced twice")]
    Fork(ConsentId),
    #[error("the consents for {0} have more than one current version")]
    TwoHeads(AccountId),
    #[error("consent {0} is replaced, through its successors, by itself")]
    Cycle(ConsentId),
    #[error("the consents for {0} have more than {MAX_VERSIONS_PER_RECIPIENT} versions")]
    TooManyVersions(AccountId),
}

/// The verified history of one case's consents.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    versions: Vec<Version>,
    /// Index of each version by id, and of the version that replaces each id.
    by_id: HashMap<ConsentId, usize>,
    successor_of: HashMap<ConsentId, usize>,
}

impl Chain {
    /// Checks that `versions` form one history: same case and patient, each `supersedes`
    /// names a version for the same recipient, no version is replaced twice, no line loops,
    /// and at most one version per recipient stands unrevoked and unreplaced. For the
    /// patient, the recipient and the server, who see every version.
    pub fn new(
        case_id: &CaseId,
        patient: &AccountId,
        versions: Vec<Version>,
    ) -> Result<Chain, ChainError> {
        Self::build(case_id, patient, versions, false)
    }

    /// The part of a history a sender may see (need to know): a version may name as
    /// replaced one that is not shown, and a shown version may be replaced by one that is
    /// not (`Version::replaced_unseen`). Every other rule of `new` holds.
    pub fn partial(
        case_id: &CaseId,
        patient: &AccountId,
        versions: Vec<Version>,
    ) -> Result<Chain, ChainError> {
        Self::build(case_id, patient, versions, true)
    }

    fn build(
        case_id: &CaseId,
        patient: &AccountId,
        versions: Vec<Version>,
        partial: bool,
    ) -> Result<Chain, ChainError> {
        let mut by_id = HashMap::with_capacity(versions.len());
        for (i, v) in versions.iter().enumerate() {
            let c = &v.consent;
            if &c.case_id != case_id || &c.patient != patient {
                return Err(ChainError::Foreign(c.consent_id.clone()));
            }
            if by_id.insert(c.consent_id.clone(), i).is_some() {
                return Err(ChainError::Duplicate(c.consent_id.clone()));
            }
        }
        let mut successor_of = HashMap::new();
        let mut per_recipient: HashMap<&AccountId, usize> = HashMap::new();
        for (i, v) in versions.iter().enumerate() {
            let c = &v.consent;
            let n = per_recipient.entry(&c.recipient).or_default();
            *n += 1;
            if *n > MAX_VERSIONS_PER_RECIPIENT {
                return Err(ChainError::TooManyVersions(c.recipient.clone()));
            }
            let Some(old) = &c.supersedes else { continue };
            match by_id.get(old) {
                Some(&p) if versions[p].consent.recipient != c.recipient => {
                    return Err(ChainError::CrossRecipient(c.consent_id.clone()));
                }
                Some(_) => {}
                None if partial => continue,
                None => return Err(ChainError::DanglingSupersedes(c.consent_id.clone())),
            }
            if successor_of.insert(old.clone(), i).is_some() {
                return Err(ChainError::Fork(old.clone()));
            }
        }
        let chain = Chain {
            versions,
            by_id,
            successor_of,
        };
        // Every line must end: following successors from any version reaches a version that
        // nothing replaces within as many steps as there are versions.
        for v in &chain.versions {
            let mut at = v;
            let mut ends = false;
            for _ in 0..=chain.versions.len() {
                match chain.successor(&at.consent.consent_id) {
                    Some(next) => at = next,
                    None => {
                        ends = true;
                        break;
                    }
                }
            }
            if !ends {
                return Err(ChainError::Cycle(v.consent.consent_id.clone()));
            }
        }
        let mut open: HashMap<&AccountId, usize> = HashMap::new();
        for v in chain.open_versions() {
            let n = open.entry(&v.consent.recipient).or_default();
            *n += 1;
            if *n > 1 {
                return Err(ChainError::TwoHeads(v.consent.recipient.clone()));
            }
        }
        Ok(chain)
    }

    /// Versions neither revoked nor replaced (seen or unseen).
    fn open_versions(&self) -> impl Iterator<Item = &Version> {
        self.versions.iter().filter(|v| {
            v.revoked_at.is_none()
                && !v.replaced_unseen
                && !self.successor_of.contains_key(&v.consent.consent_id)
        })
    }

    /// The history as it will be once `new` is accepted at `at`: what the server applies
    /// when it accepts a new version, and what the patient's client shows before signing.
    pub fn with_new_version(&self, new: &Consent, at: i64) -> Result<Chain, ChainError> {
        let (case_id, patient) = (&new.case_id, &new.patient);
        let mut versions = self.versions.clone();
        versions.push(Version {
            consent: new.clone(),
            revoked_at: None,
            accepted_at: at,
            replaced_unseen: false,
        });
        Chain::new(case_id, patient, versions)
    }

    pub fn versions(&self) -> &[Version] {
        &self.versions
    }

    pub fn get(&self, id: &ConsentId) -> Option<&Version> {
        self.by_id.get(id).map(|&i| &self.versions[i])
    }

    /// The version that replaces `id`, if any (and shown).
    pub fn successor(&self, id: &ConsentId) -> Option<&Version> {
        self.successor_of.get(id).map(|&i| &self.versions[i])
    }

    /// The newest version of the line `id` belongs to. `new` has checked there is no cycle
    /// longer than the chain itself; the walk is bounded all the same.
    pub fn head(&self, id: &ConsentId) -> Option<&Version> {
        let mut v = self.get(id)?;
        for _ in 0..self.versions.len() {
            match self.successor(&v.consent.consent_id) {
                Some(next) => v = next,
                None => break,
            }
        }
        Some(v)
    }

    /// When `id` was replaced: the moment its successor was accepted.
    pub fn superseded_at(&self, id: &ConsentId) -> Option<i64> {
        self.successor(id).map(|s| s.accepted_at)
    }

    /// The version a new message to `recipient` goes under: the head of their line that is
    /// neither revoked nor replaced (it may have expired: `in_period` says so).
    pub fn current(&self, recipient: &AccountId) -> Option<&Version> {
        self.open_versions()
            .find(|v| &v.consent.recipient == recipient)
    }

    /// The current version for `recipient` if it is in force at `at`: not revoked by then
    /// (the one time rule) and within its period. What a patient is shown as "may see now".
    pub fn in_force(&self, recipient: &AccountId, at: i64) -> Option<&Version> {
        self.current(recipient).filter(|v| {
            !happened_by(v.revoked_at, at) && crate::consent::in_period(&v.consent, at).is_ok()
        })
    }

    /// The newest version for `recipient`, standing or not: what a sender is told about when
    /// there is no current one (revoked, say, rather than never granted).
    pub fn latest(&self, recipient: &AccountId) -> Option<&Version> {
        self.versions
            .iter()
            .filter(|v| &v.consent.recipient == recipient)
            .max_by_key(|v| v.accepted_at)
    }

    /// A new version `new` may be accepted: it names as replaced exactly the current version
    /// for its recipient (or nothing, when there is none). Returns the version it replaces.
    pub fn check_new(&self, new: &Consent) -> Result<Option<&Version>, NewVersionRefusal> {
        if self.get(&new.consent_id).is_some() {
            return Err(NewVersionRefusal::Exists);
        }
        let versions = self
            .versions
            .iter()
            .filter(|v| v.consent.recipient == new.recipient)
            .count();
        if versions >= MAX_VERSIONS_PER_RECIPIENT {
            return Err(NewVersionRefusal::TooManyVersions);
        }
        let current = self.current(&new.recipient);
        match (current, &new.supersedes) {
            (None, None) => Ok(None),
            (Some(c), Some(s)) if &c.consent.consent_id == s => Ok(Some(c)),
            (Some(c), _) => Err(NewVersionRefusal::BadSupersedes {
                current: Some(c.consent.consent_id.clone()),
            }),
            (None, Some(_)) => Err(NewVersionRefusal::BadSupersedes { current: None }),
        }
    }

    /// A revocation signed by the patient may take effect: it names a version of this case
    /// that is current (neither revoked nor replaced: replaced versions allow nothing new,
    /// and what they still cover is their successor's to allow).
    pub fn check_revocation(&self, r: &Revocation) -> Result<&Version, RevocationRefusal> {
        let v = self
            .get(&r.consent_id)
            .ok_or(RevocationRefusal::UnknownConsent)?;
        if r.case_id != v.consent.case_id || r.patient != v.consent.patient {
            return Err(RevocationRefusal::Mismatch);
        }
        if v.revoked_at.is_some() {
            return Err(RevocationRefusal::AlreadyRevoked);
        }
        if self.successor(&r.consent_id).is_some() {
            return Err(RevocationRefusal::Superseded);
        }
        Ok(v)
    }

    /// Standing of `id` at `at`, by the one time rule: revoked or replaced from the second it
    /// happened.
    pub fn standing(&self, id: &ConsentId) -> crate::consent::Standing {
        crate::consent::Standing {
            revoked_at: self.get(id).and_then(|v| v.revoked_at),
            superseded_at: self.superseded_at(id),
        }
    }

    /// Is the line of `id` revoked by `at`?
    pub fn head_revoked_by(&self, id: &ConsentId, at: i64) -> bool {
        self.head(id).is_some_and(|h| happened_by(h.revoked_at, at))
    }
}

/// Why a new version is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NewVersionRefusal {
    #[error("a consent with this id already exists")]
    Exists,
    #[error("the consent must name the current version for this recipient as the one it replaces")]
    BadSupersedes { current: Option<ConsentId> },
    #[error("this physician already has {MAX_VERSIONS_PER_RECIPIENT} versions of this consent")]
    TooManyVersions,
}

/// Why a revocation is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RevocationRefusal {
    #[error("the revocation names a consent that is not in this case")]
    UnknownConsent,
    #[error("the revocation names another case or patient than its consent")]
    Mismatch,
    #[error("this consent is already revoked")]
    AlreadyRevoked,
    #[error("this consent was replaced by a newer version: revoke the newer one")]
    Superseded,
}
