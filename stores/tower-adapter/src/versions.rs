//! One `RecordStore` implementation per tower-sessions-core trait version: the versions share
//! the shape of `Record`, `Id` and `session_store::Error`, so one macro writes each.

macro_rules! trait_version {
    ($module:ident, $core:ident, $version:literal, create: $create:tt) => {
        #[doc = concat!("Stores implementing tower-sessions-core ", $version, ".")]
        pub mod $module {
            use async_trait::async_trait;
            use sessionspec_contract::{ErrorKind, Result, StoreError};

            use $core::session::{Id, Record as Native};
            use $core::session_store::{Error, ExpiredDeletion, SessionStore};

            use crate::Record;

            /// The trait version, as reports name it.
            pub const VERSION: &str = $version;

            fn error(e: Error) -> StoreError {
                match e {
                    Error::Encode(m) | Error::Decode(m) => StoreError::new(ErrorKind::Serialize, m),
                    Error::Backend(m) => StoreError::new(ErrorKind::Backend, m),
                }
            }

            fn native(r: &Record) -> Native {
                Native { id: Id(r.id), data: r.data.clone(), expiry_date: r.expiry_date }
            }

            fn ours(r: Native) -> Record {
                Record { id: r.id.0, data: r.data, expiry_date: r.expiry_date }
            }

            /// A store without `ExpiredDeletion`.
            pub struct Plain<S>(pub S);

            /// A store with `ExpiredDeletion`.
            pub struct Deleting<S>(pub S);

            trait_version!(@create $create);

            #[async_trait]
            impl<S: SessionStore> crate::RecordStore for Plain<S> {
                async fn create(&self, record: &mut Record) -> Option<Result<()>> {
                    create(&self.0, record).await
                }
                async fn save(&self, record: &Record) -> Result<()> {
                    self.0.save(&native(record)).await.map_err(error)
                }
                async fn load(&self, id: i128) -> Result<Option<Record>> {
                    Ok(self.0.load(&Id(id)).await.map_err(error)?.map(ours))
                }
                async fn delete(&self, id: i128) -> Result<()> {
                    self.0.delete(&Id(id)).await.map_err(error)
                }
                async fn delete_expired(&self) -> Option<Result<()>> {
                    None
                }
                fn operations(&self) -> (bool, bool) {
                    ($create, false)
                }
            }

            #[async_trait]
            impl<S: ExpiredDeletion> crate::RecordStore for Deleting<S> {
                async fn create(&self, record: &mut Record) -> Option<Result<()>> {
                    create(&self.0, record).await
                }
                async fn save(&self, record: &Record) -> Result<()> {
                    self.0.save(&native(record)).await.map_err(error)
                }
                async fn load(&self, id: i128) -> Result<Option<Record>> {
                    Ok(self.0.load(&Id(id)).await.map_err(error)?.map(ours))
                }
                async fn delete(&self, id: i128) -> Result<()> {
                    self.0.delete(&Id(id)).await.map_err(error)
                }
                async fn delete_expired(&self) -> Option<Result<()>> {
                    Some(self.0.delete_expired().await.map_err(error))
                }
                fn operations(&self) -> (bool, bool) {
                    ($create, true)
                }
            }
        }
    };
    (@create true) => {
        async fn create<S: SessionStore>(store: &S, record: &mut Record) -> Option<Result<()>> {
            let mut n = native(record);
            let result = store.create(&mut n).await.map_err(error);
            *record = ours(n);
            Some(result)
        }
    };
    (@create false) => {
        async fn create<S: SessionStore>(_: &S, _: &mut Record) -> Option<Result<()>> {
            None
        }
    };
}

#[cfg(feature = "core11")]
trait_version!(v11, core11, "0.11", create: false);
#[cfg(feature = "core14")]
trait_version!(v14, core14, "0.14", create: true);
#[cfg(feature = "core15")]
trait_version!(v15, core15, "0.15", create: true);
