//! Encrypted fields in the readers (`--key-store F --master-key F`), and `tracing-audit erase`.

use super::output::{warn, Out};
use super::CliError;
use clap::Args;
use std::path::{Path, PathBuf};
use tracing_audit::chain::{ChainConfig, ChainKey, SigningState};
use tracing_audit::layer::AuditLayer;
use tracing_audit::shred::{Revealer, ShredConfig};
use tracing_audit::sink::FileSink;
use tracing_audit::KeySource;

/// The key store that shows encrypted fields in plain.
#[derive(Args, Debug, Clone, Default)]
pub(super) struct ShredArgs {
    /// The key store of the trail's encrypted fields: with --master-key, encrypted values are
    /// shown in plain, and those of erased subjects as erased (with the erasure record's seq).
    /// Without it they are shown as "[encrypted]".
    #[arg(long, value_name = "F", requires = "master_key")]
    pub(super) key_store: Option<PathBuf>,
    /// The master key file the key store is wrapped with.
    #[arg(long, value_name = "F", requires = "key_store")]
    pub(super) master_key: Option<PathBuf>,
}

impl ShredArgs {
    /// What this reader may see of encrypted values in the trail in `dir`.
    pub(super) fn revealer(&self, dir: &Path, prefix: Option<&str>) -> Result<Revealer, CliError> {
        match (&self.key_store, &self.master_key) {
            (Some(store), Some(master)) => {
                let r = Revealer::open(dir, prefix, Some((store, &KeySource::file(master))))?;
                if r.store_rolled_back() {
                    warn(
                        "warning: the key store is older than an erasure the trail records (a \
                         restored copy?): the subjects erased since are still shown as erased",
                    );
                }
                Ok(r)
            }
            _ => Ok(Revealer::without_keys()),
        }
    }
}

/// `tracing-audit erase DIR --subject NAME --reason TEXT`.
#[derive(Args, Debug)]
pub(super) struct EraseArgs {
    /// The audit trail directory.
    dir: PathBuf,
    /// The subject to erase, as records name it (the actor, by default).
    #[arg(long, value_name = "NAME", required_unless_present = "reapply")]
    subject: Option<String>,
    /// Why (written in plain in the erasure record: do not name the subject here).
    #[arg(long, value_name = "TEXT", required_unless_present = "reapply")]
    reason: Option<String>,
    /// Erase nothing new: destroy, in the key store, the key of every subject an erasure record
    /// of the trail names (after an older copy of the store was restored). Only records
    /// authenticated by the chain key (--key-file) count.
    #[arg(long, conflicts_with_all = ["subject", "reason"], requires = "key_file")]
    reapply: bool,
    /// Who asked for the erasure (written in plain in the erasure record).
    #[arg(long, value_name = "WHO", default_value = "operator")]
    requested_by: String,
    /// The key store.
    #[arg(long, value_name = "F")]
    key_store: PathBuf,
    /// The master key file the key store is wrapped with.
    #[arg(long, value_name = "F")]
    master_key: PathBuf,
    /// The chain key file of a keyed trail (the erasure record is chained under it).
    #[arg(long, value_name = "F")]
    key_file: Option<PathBuf>,
    /// The key id the chain key file belongs to.
    #[arg(
        long,
        value_name = "ID",
        default_value = "default",
        requires = "key_file"
    )]
    key_id: String,
    /// The signing state of a trail with signed epoch seals (the erasure record is sealed).
    #[arg(long, value_name = "F")]
    signing_state: Option<PathBuf>,
    /// File name prefix of the audit trail.
    #[arg(long, value_name = "P", default_value = "audit")]
    prefix: String,
    /// The lifted key that names a record's subject.
    #[arg(long, value_name = "KEY", default_value = "actor")]
    subject_key: String,
}

/// Erases a subject as the writer would: the command opens the trail as its writer (taking
/// the trail's and the key store's locks, so it refuses while the application runs: erase
/// through its `AuditHandle::erase` then), writes the erasure record, fsyncs it, destroys the
/// key, and closes the trail with a checkpoint.
pub(super) fn erase(args: EraseArgs) -> Result<u8, CliError> {
    let master = KeySource::file(&args.master_key);
    if args.reapply {
        let Some(f) = &args.key_file else {
            return Err(CliError(
                "--reapply needs the chain key (--key-file)".to_owned(),
            ));
        };
        let key = ChainKey::from_file(&args.key_id, f)?;
        let n = tracing_audit::shred::reapply_erasures(
            &args.dir,
            Some(&args.prefix),
            &key,
            &args.key_store,
            &master,
        )?;
        Out::new().line(format!("re-applied erasures: {n} keys destroyed").as_bytes())?;
        return Ok(0);
    }
    let (Some(subject), Some(reason)) = (&args.subject, &args.reason) else {
        return Err(CliError(
            "give --subject and --reason, or --reapply".to_owned(),
        ));
    };
    let mut chain = ChainConfig::new();
    if let Some(f) = &args.key_file {
        chain = chain.key(ChainKey::from_file(&args.key_id, f)?);
    }
    if let Some(s) = &args.signing_state {
        chain = chain.signing(SigningState::load(s)?);
    }
    let shred = ShredConfig::new(&args.key_store, master).subject(&args.subject_key)?;
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(&args.dir).prefix(&args.prefix))
        .debug_to(std::io::sink)
        .chain(chain)
        .shred(shred)
        .build::<tracing_subscriber::Registry>()?;
    let erasure = layer.handle().erase(subject, reason, &args.requested_by)?;
    drop(layer);
    drop(guard);
    Out::new().line(
        format!(
            "erased subject {}: key destroyed, key store generation {}",
            erasure.subject.to_hex(),
            erasure.generation
        )
        .as_bytes(),
    )?;
    Ok(0)
}
