use super::format;

fn fmt(src: &str) -> String {
    let out = format(src).unwrap_or_else(|d| panic!("{src:?} did not format: {d:?}"));
    assert_eq!(
        format(&out).ok().as_deref(),
        Some(out.as_str()),
        "not idempotent"
    );
    out
}

#[test]
fn spacing_around_operators_brackets_and_calls() {
    assert_eq!(
        fmt(
            "model m=mock( reply:\"a\" )\ninput xs:list< text >\noutput n =len( xs )>=2 and not(true)\n"
        ),
        "model m = mock(reply: \"a\")\ninput xs: list<text>\noutput n = len(xs) >= 2 and not (true)\n"
    );
}

#[test]
fn blocks_indent_members_and_continuations() {
    let src = "model m = mock()\nsection <\nreply = ask m \"a\"\nsystem \"s\"\n    ok = section <\n a = ask m \"b\"\n >\n>\noutput x = if ok.a == \"b\"\nthen reply else \"no\"\n";
    assert_eq!(
        fmt(src),
        "model m = mock()\nsection <\n  reply = ask m \"a\"\n    system \"s\"\n  ok = section <\n    a = ask m \"b\"\n  >\n>\noutput x = if ok.a == \"b\"\n  then reply else \"no\"\n"
    );
}

#[test]
fn test_blocks_put_each_line_on_its_own() {
    assert_eq!(
        fmt(
            "model m = mock()\noutput a = ask m \"x\"\ntest \"t\" < model m = mock(reply: \"y\")\nexpect a==\"y\" >\n"
        ),
        "model m = mock()\noutput a = ask m \"x\"\ntest \"t\" <\n  model m = mock(reply: \"y\")\n  expect a == \"y\" >\n"
    );
}

#[test]
fn strings_are_kept_byte_for_byte() {
    let src = "model m = mock()\noutput a = ask m \"\"\"\n      two  spaces\n\t tab\n    \"\"\"   as text\n";
    assert_eq!(
        fmt(src),
        "model m = mock()\noutput a = ask m \"\"\"\n      two  spaces\n\t tab\n    \"\"\" as text\n"
    );
}

#[test]
fn blank_lines_collapse_and_statements_split() {
    assert_eq!(
        fmt("\n\nx = 1 output y = x\n\n\n\n# end\n"),
        "x = 1\noutput y = x\n\n# end\n"
    );
}

#[test]
fn for_bodies_and_comparisons_in_parentheses() {
    assert_eq!(
        fmt("xs = [1,2]\noutput big = for x in xs <(x>1)>\n"),
        "xs = [1, 2]\noutput big = for x in xs < (x > 1) >\n"
    );
}

#[test]
fn a_file_that_does_not_parse_is_refused() {
    assert!(format("x = \n").is_err());
}

#[test]
fn a_byte_order_mark_and_crlf_lines() {
    assert_eq!(
        fmt("\u{FEFF}x = 1\r\noutput y = x\r\n"),
        "\u{FEFF}x = 1\noutput y = x\n"
    );
}
