//! cg-edge: the compiled front of a regional gateway in the distributed mode (the crate's library
//! holds it: src/lib.rs).

#![forbid(unsafe_code)]

fn main() {
    cg_edge::main()
}
