//go:build ignore

// Writes src/wire/quote/is_print.rs: the ranges of code points unicode.IsPrint
// (equal to strconv.IsPrint, checked here) reports printable. From the crate's
// root, with the Go toolchain the reference server is built with:
//
//	go run src/wire/quote/gen_is_print.go > src/wire/quote/is_print.rs
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unicode"
)

func main() {
	var ranges [][2]rune
	for r := rune(0); r <= unicode.MaxRune; r++ {
		p := unicode.IsPrint(r)
		if p != strconv.IsPrint(r) {
			panic(fmt.Sprintf("unicode.IsPrint and strconv.IsPrint differ at %U", r))
		}
		if !p {
			continue
		}
		if n := len(ranges); n > 0 && ranges[n-1][1] == r-1 {
			ranges[n-1][1] = r
		} else {
			ranges = append(ranges, [2]rune{r, r})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `//! Go's `+"`unicode.IsPrint`"+` (which `+"`strconv.Quote`"+` uses), Unicode %s as in
//! %s: the %d ranges of code points it reports printable.
//!
//! Generated, do not edit: `+"`go run src/wire/quote/gen_is_print.go`"+` with
//! %s walks every code point from U+0000 to U+10FFFF, checks that
//! `+"`unicode.IsPrint`"+` and `+"`strconv.IsPrint`"+` agree, and writes each run of
//! printable ones as one inclusive range.

/// Whether Go's `+"`unicode.IsPrint`"+` reports `+"`c`"+` printable.
pub(super) fn is_print(c: char) -> bool {
    let u = u32::from(c);
    let i = PRINTABLE.partition_point(|&(_, hi)| hi < u);
    PRINTABLE.get(i).is_some_and(|&(lo, _)| lo <= u)
}

/// Inclusive ranges of printable code points, sorted, disjoint.
#[rustfmt::skip]
pub(super) const PRINTABLE: &[(u32, u32)] = &[
`, unicode.Version, runtime.Version(), len(ranges), runtime.Version())
	line := "   "
	for _, r := range ranges {
		item := fmt.Sprintf(" (0x%x, 0x%x),", r[0], r[1])
		if len(line)+len(item) > 99 {
			b.WriteString(line + "\n")
			line = "   "
		}
		line += item
	}
	b.WriteString(line + "\n];\n")
	os.Stdout.WriteString(b.String())
}
