//! The interpreter's resolution rules, and the completeness of [`examples`]: every
//! variant of every layer has exactly one, checked against the variant lists serde's
//! derive writes for each enum (so a new variant without an example fails here).

use super::*;

#[test]
fn indices_wrap_and_live_skips_dead_entries() {
    let t = [10, 11, 12];
    assert_eq!(Ix::Nth(4).resolve(&t, |_| true), Some(11));
    assert_eq!(Ix::Recent(0).resolve(&t, |_| true), Some(12));
    assert_eq!(Ix::Recent(4).resolve(&t, |_| true), Some(11));
    assert_eq!(Ix::Live(0).resolve(&t, |x| *x != 12), Some(11));
    assert_eq!(Ix::Live(1).resolve(&t, |x| *x != 12), Some(10));
    assert_eq!(Ix::Live(0).resolve(&t, |_| false), Some(12));
    assert_eq!(Ix::Nth(0).resolve::<u8>(&[], |_| true), None);
}

#[test]
fn names_are_unique() {
    let names = Op::names();
    let mut n = names.clone();
    n.sort_unstable();
    n.dedup();
    assert_eq!(n.len(), names.len());
}

#[test]
fn empty_tables_resolve_to_null_or_never_valid_handles() {
    let mut i = Interpreter::new(Config::default()).unwrap();
    let o = i.apply(&Op::Irp(IrpOp::IoFreeIrp { irp: Ix::Nth(3) }));
    assert!(matches!(o, Outcome::Fault(Fault::Model(_))));
    let o = i.apply(&Op::Process(ProcessOp::Attach {
        process: Ix::Live(0),
    }));
    assert!(matches!(o, Outcome::Fault(Fault::Model(_))));
    let o = i.apply(&Op::Mdl(MdlOp::MmUnlockPages {
        mdl: Some(Ix::Nth(0)),
    }));
    assert!(o.fault().and_then(Fault::bug_check).is_some(), "NULL MDL");
}

/// The variant names serde's derive lists for an enum (its `VARIANTS`), read by a
/// deserializer that records what `deserialize_enum` is given and stops.
fn variants<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    let mut probe = VariantProbe(&[]);
    let _ = T::deserialize(&mut probe);
    probe.0
}

struct VariantProbe(&'static [&'static str]);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stop")
    }
}

impl std::error::Error for Stop {}

impl serde::de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> serde::Deserializer<'de> for &mut VariantProbe {
    type Error = Stop;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        _: V,
    ) -> std::result::Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> std::result::Result<V::Value, Stop> {
        self.0 = variants;
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

/// `(layer, variant)` of an op, as its JSON names them.
fn layer_and_variant(op: &Op) -> (String, String) {
    let json = serde_json::to_value(op).unwrap();
    let (layer, inner) = json.as_object().unwrap().iter().next().unwrap();
    let variant = match inner {
        serde_json::Value::String(unit) => unit.clone(),
        other => other.as_object().unwrap().keys().next().unwrap().clone(),
    };
    (layer.clone(), variant)
}

#[test]
fn variant_probe_reads_an_enums_variants() {
    assert_eq!(variants::<Ix>(), ["Nth", "Recent", "Live"]);
    assert_eq!(
        variants::<Op>(),
        ["Process", "Vm", "Pool", "Mdl", "Irp", "Io"]
    );
}

#[test]
fn every_variant_of_every_layer_has_exactly_one_example() {
    let layers = [
        ("Process", variants::<ProcessOp>()),
        ("Vm", variants::<VmOp>()),
        ("Pool", variants::<PoolOp>()),
        ("Mdl", variants::<MdlOp>()),
        ("Irp", variants::<IrpOp>()),
        ("Io", variants::<IoOp>()),
    ];
    let layer_names: Vec<&str> = layers.iter().map(|l| l.0).collect();
    assert_eq!(
        variants::<Op>(),
        layer_names,
        "a layer missing from this test"
    );
    let want: std::collections::BTreeSet<(String, String)> = layers
        .iter()
        .flat_map(|(l, vs)| vs.iter().map(|v| (l.to_string(), v.to_string())))
        .collect();
    let got: Vec<(String, String)> = examples().iter().map(layer_and_variant).collect();
    let missing: Vec<_> = want.iter().filter(|v| !got.contains(v)).collect();
    assert!(
        missing.is_empty(),
        "variants without an example: {missing:?}"
    );
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len(), "a variant with two examples");
    assert_eq!(got.len(), want.len());
}

#[test]
fn examples_round_trip_through_json() {
    let ops = examples();
    let back: Vec<Op> = serde_json::from_str(&serde_json::to_string(&ops).unwrap()).unwrap();
    assert_eq!(back, ops);
}
