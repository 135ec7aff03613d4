//! Fuzz target `condition`: the fuzzer's bytes through [`mission_control_fuzz::condition`], whose
//! documentation says what it covers and what it checks.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mission_control_fuzz::condition(data));
