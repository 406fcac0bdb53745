//! Compile-fail (UI) tests of `#[derive(DaskSerialize, DaskDeserialize)]`:
//! one minimal misuse per file, its expected diagnostics in the `.stderr`
//! next to it, and one program using every attribute correctly.
//!
//! The `.stderr` files depend on the compiler's diagnostic rendering; after
//! a toolchain upgrade or a change of message, regenerate them with
//! `TRYBUILD=overwrite cargo test --test compiletest` and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    // Malformed attributes: unknown keys, duplicates, bad literals.
    t.compile_fail("tests/ui/attr/*.rs");
    // Well-formed attributes that contradict each other or the type.
    t.compile_fail("tests/ui/conflict/*.rs");
    // Field types that cannot go where they are placed.
    t.compile_fail("tests/ui/placement/*.rs");
    // Types with no Python counterpart.
    t.compile_fail("tests/ui/unsupported/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
