//! Record stores with one planted defect each, which the record-store requirements must catch
//! (`tests/broken.rs`): never use them for anything else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use core15::session::{Id, Record};
use core15::session_store::{ExpiredDeletion, Result, SessionStore};
use time::OffsetDateTime;

/// Which defect a [`BrokenStore`] has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// `create` is the trait's default, a `save`: it replaces a record already under the id
    /// (tower-sessions #180). Breaks CREATE-2.
    CreateOverwrites,
    /// `load` returns a record whatever its `expiry_date`. Breaks GET-2 and DELEXP-1's reading.
    LoadIgnoresExpiry,
}

/// A map of records with one defect.
#[derive(Debug, Clone)]
pub struct BrokenStore {
    defect: Defect,
    records: Arc<Mutex<HashMap<Id, Record>>>,
}

impl BrokenStore {
    /// An empty store with `defect`.
    pub fn new(defect: Defect) -> BrokenStore {
        BrokenStore { defect, records: Arc::default() }
    }
}

fn live(record: &Record) -> bool {
    record.expiry_date > OffsetDateTime::now_utc()
}

#[async_trait]
impl SessionStore for BrokenStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        let mut records = self.records.lock().expect("lock");
        if self.defect != Defect::CreateOverwrites {
            while records.contains_key(&record.id) {
                record.id = Id::default();
            }
        }
        records.insert(record.id, record.clone());
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<()> {
        self.records.lock().expect("lock").insert(record.id, record.clone());
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let records = self.records.lock().expect("lock");
        Ok(records.get(id).filter(|r| self.defect == Defect::LoadIgnoresExpiry || live(r)).cloned())
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.records.lock().expect("lock").remove(id);
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for BrokenStore {
    async fn delete_expired(&self) -> Result<()> {
        self.records.lock().expect("lock").retain(|_, r| live(r));
        Ok(())
    }
}
