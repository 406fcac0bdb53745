//! Test/example host package (not published).
