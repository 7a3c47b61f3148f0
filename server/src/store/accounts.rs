//! Accounts: registration, login challenges, the directory, invitations.

use trialog_protocol::AccountId;

use super::Store;
use crate::db::{self, accounts::AccountRow};
use crate::error::ApiError;

impl Store {
    /// Account `id`, or `unknown_account`.
    pub async fn account(&self, id: &AccountId) -> Result<AccountRow, ApiError> {
        db::accounts::get(self.db.pool(), id.as_str())
            .await?
            .ok_or_else(|| ApiError::UnknownAccount(id.to_string()))
    }
}
