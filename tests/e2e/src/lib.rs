//! Test harness for sessiond (work in progress).
