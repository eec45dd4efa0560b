//! [`Registry`]: every strategy the command knows by name, the built-ins, the zoo and a
//! program's own, and the one place names are looked up (`audit --strategy`, a scenario
//! file's `"strategy"`).

use crate::CliError;
use mdlsim::scenario::StrategyLookup;
use mdlsim::strategy::{ProxyStrategy, ProxyStrategyClone, builtins, zoo::zoo};
use std::sync::Mutex;

/// Where a registered strategy comes from: what `audit` runs by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// [`mdlsim::strategy::builtins`]: audited by default.
    Builtin,
    /// [`mdlsim::strategy::zoo::zoo`]: audited with `--zoo` or by name.
    Zoo,
    /// Registered by the program ([`Registry::add`]): audited by default.
    User,
}

/// One registered strategy: its name, where it comes from, and a prototype cloned for
/// every use (behind a lock: strategies are `Send`, not `Sync`).
struct Entry {
    name: String,
    origin: Origin,
    proto: Mutex<Box<dyn ProxyStrategyClone>>,
}

/// The strategies the command knows, by name; names are unique.
///
/// A name is found ([`Registry::find`]) as written, else ignoring ASCII case, else by
/// the part before its parameter (`copysmallmaplarge` finds `CopySmallMapLarge(65536)`)
/// when that part names only one strategy.
///
/// ```
/// use mdlsim::strategy::BounceCopy;
/// let mut r = mdlsim_cli::Registry::empty();
/// r.add(BounceCopy::default()).unwrap();
/// assert!(r.add(BounceCopy::default()).is_err()); // the name is taken
/// assert_eq!(r.find("bouncecopy").unwrap().name(), "BounceCopy");
/// ```
pub struct Registry {
    entries: Vec<Entry>,
}

impl Default for Registry {
    /// [`Registry::standard`].
    fn default() -> Self {
        Registry::standard()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| (&e.name, e.origin)))
            .finish()
    }
}

impl Registry {
    /// No strategy at all.
    pub fn empty() -> Registry {
        Registry {
            entries: Vec::new(),
        }
    }

    /// The built-ins, then the zoo: what the `mdlsim` binary knows.
    pub fn standard() -> Registry {
        let mut r = Registry::empty();
        for s in builtins() {
            r.push(s, Origin::Builtin);
        }
        for s in zoo() {
            r.push(s, Origin::Zoo);
        }
        r
    }

    fn push(&mut self, s: Box<dyn ProxyStrategyClone>, origin: Origin) {
        if self.position(&s.name()).is_none() {
            self.entries.push(Entry {
                name: s.name(),
                origin,
                proto: Mutex::new(s),
            });
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.name == name)
    }

    /// Registers the program's strategy `s` (anything `ProxyStrategy + Clone + Send`,
    /// a `Box<dyn ProxyStrategyClone>` too) under its [`ProxyStrategy::name`].
    ///
    /// # Errors
    /// The name is empty or already registered (a scenario file naming it would be
    /// ambiguous).
    pub fn add<S: ProxyStrategy + Clone + Send + 'static>(&mut self, s: S) -> Result<(), CliError> {
        let name = s.name();
        if name.trim().is_empty() {
            return Err(CliError(
                "a strategy registered with an empty name".to_string(),
            ));
        }
        if let Some(i) = self.position(&name) {
            return Err(CliError(format!(
                "strategy `{name}` registered twice (the {} one first)",
                match self.entries[i].origin {
                    Origin::Builtin => "built-in",
                    Origin::Zoo => "zoo",
                    Origin::User => "program's",
                }
            )));
        }
        self.entries.push(Entry {
            name,
            origin: Origin::User,
            proto: Mutex::new(Box::new(s)),
        });
        Ok(())
    }

    /// Every name, in registration order (built-ins, zoo, the program's).
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }

    /// The names from `origin`.
    pub fn names_from(&self, origin: Origin) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.origin == origin)
            .map(|e| e.name.clone())
            .collect()
    }

    /// Fresh copies of the program's own strategies ([`Origin::User`]), in registration
    /// order: what `bench-report` compares beside the correct built-ins.
    pub fn own(&self) -> Vec<Box<dyn ProxyStrategyClone>> {
        self.names_from(Origin::User)
            .iter()
            .filter_map(|n| self.fresh(n))
            .collect()
    }

    /// The registered name `name` designates (see [`Registry`] for the spellings).
    ///
    /// # Errors
    /// No strategy, or several, answer to it; the message lists the known names.
    pub fn resolve(&self, name: &str) -> Result<String, CliError> {
        let want = name.trim();
        if let Some(i) = self.position(want) {
            return Ok(self.entries[i].name.clone());
        }
        let base = |n: &str| n.split('(').next().unwrap_or(n).trim().to_ascii_lowercase();
        let mut hits: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| e.name.eq_ignore_ascii_case(want))
            .map(|e| e.name.as_str())
            .collect();
        if hits.is_empty() && !want.contains('(') {
            let b = want.to_ascii_lowercase();
            hits = self
                .entries
                .iter()
                .filter(|e| base(&e.name) == b)
                .map(|e| e.name.as_str())
                .collect();
        }
        match hits.as_slice() {
            [one] => Ok((*one).to_string()),
            [] => Err(CliError(format!(
                "unknown strategy `{name}`; expected one of {}",
                self.names().join(", ")
            ))),
            many => Err(CliError(format!(
                "strategy `{name}` is ambiguous: {}",
                many.join(", ")
            ))),
        }
    }

    /// A fresh strategy called `name` ([`Registry::resolve`]).
    pub fn find(&self, name: &str) -> Option<Box<dyn ProxyStrategyClone>> {
        let n = self.resolve(name).ok()?;
        self.fresh(&n)
    }

    /// A fresh clone of the strategy registered exactly as `name`.
    pub(crate) fn fresh(&self, name: &str) -> Option<Box<dyn ProxyStrategyClone>> {
        let e = &self.entries[self.position(name)?];
        let proto = e.proto.lock().unwrap_or_else(|p| p.into_inner());
        Some(proto.clone_box())
    }

    /// The names an audit runs: the one `strategy` designates, else the built-ins and
    /// the program's strategies, with the zoo's when `zoo` is set.
    ///
    /// # Errors
    /// `strategy` designates none ([`Registry::resolve`]).
    pub fn select(&self, strategy: Option<&str>, zoo: bool) -> Result<Vec<String>, CliError> {
        match strategy {
            Some(n) => Ok(vec![self.resolve(n)?]),
            None => Ok(self
                .entries
                .iter()
                .filter(|e| zoo || e.origin != Origin::Zoo)
                .map(|e| e.name.clone())
                .collect()),
        }
    }
}

impl StrategyLookup for Registry {
    fn find(&self, name: &str) -> Option<Box<dyn ProxyStrategyClone>> {
        Registry::find(self, name)
    }
    fn names(&self) -> Vec<String> {
        Registry::names(self)
    }
}
