//! Failpoints: the one way production code admits chaos tooling exists.
//!
//! `failpoint!("name", value)` makes the enclosing function return `value` when the
//! failpoint `name` is configured to fire (`fail::cfg`, done by the chaos runner in the
//! tools crate). Without the `chaos` feature the macro expands to nothing: no `fail`
//! crate in the build, no branch in the code. Failpoints never change a logic path beyond
//! this early return, which stands for a crash or an error at that spot.
//!
//! The names in use are listed in `chaos/failpoints.toml`.

/// Returns `$ret` from the enclosing function when the failpoint `$name` fires.
#[macro_export]
macro_rules! failpoint {
    ($name:literal, $ret:expr) => {
        #[cfg(feature = "chaos")]
        fail::fail_point!($name, |_| $ret);
    };
    ($name:literal) => {
        #[cfg(feature = "chaos")]
        fail::fail_point!($name);
    };
}
