use super::*;

/// The tree and the errors of `text` parsed behind `offset` blanks, as
/// imports once were: what parsing alone and shifting must reproduce.
fn padded(text: &str, offset: usize) -> crate::syntax::Parsed {
    let mut padded = " ".repeat(offset);
    padded.push_str(text);
    crate::syntax::parse_partial(&padded)
}

fn shifted(text: &str, offset: usize) -> crate::syntax::Parsed {
    let mut parsed = crate::syntax::parse_partial(text);
    parsed.errors = parsed
        .errors
        .into_iter()
        .map(|e| e.shifted(offset))
        .collect();
    if let Some(p) = &mut parsed.program {
        shift::program(p, offset);
    }
    parsed
}

/// Every example, and prefixes of each (which break in every way a
/// statement can), gives the same spans parsed alone and shifted as parsed
/// behind blanks: the walk misses no span of the tree or of an error.
#[test]
fn a_file_parsed_alone_and_shifted_has_the_spans_it_had_behind_blanks() {
    let mut texts: Vec<String> = std::fs::read_dir("examples")
        .unwrap_or_else(|e| panic!("examples: {e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "flow"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    assert!(texts.len() > 5, "the examples are the corpus");
    let prefixes: Vec<String> = texts
        .iter()
        .flat_map(|t| {
            t.char_indices()
                .map(|(i, _)| i)
                .step_by(53)
                .map(|i| t[..i].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    texts.extend(prefixes);
    texts.push("fn f(x: list<{a: text, b?: \"x\" | \"y\"}>) = x\ntest \"t\" <\n  q = [1, {\"k\": 2s}]\n  model m = mock(echo: true)\n  expect f(q) contains \"a\"\n>\n".into());
    let mut errors = 0;
    for text in &texts {
        let (a, b) = (padded(text, 1234), shifted(text, 1234));
        assert_eq!(a.program, b.program, "{text}");
        assert_eq!(a.errors, b.errors, "{text}");
        errors += a.errors.len();
    }
    assert!(
        errors > 100,
        "the prefixes exercise the errors too ({errors})"
    );
}

/// `n` files of one function each, all imported by one program.
fn many(n: usize) -> (String, MemoryLoader) {
    let mut loader = MemoryLoader::new();
    let mut main = String::new();
    for i in 0..n {
        loader.insert(
            format!("lib/m{i}.flow"),
            format!("model m = mock(echo: true)\nfn f(x: text) = ask m \"{i}: {{x}}\"\n"),
        );
        main.push_str(&format!("import \"./lib/m{i}.flow\" as m{i}\n"));
    }
    main.push_str("input q: text\n");
    let uses: Vec<String> = (0..n).map(|i| format!("m{i}.f(q)")).collect();
    main.push_str(&format!("output all = [{}]\n", uses.join(", ")));
    (main, loader)
}

/// Imports cost the parser each file's length once: 300 files are ten
/// times 30, not a hundred times as when each was parsed behind the blanks
/// of every file before it. Counted in bytes, not timed.
#[test]
fn imports_parse_in_bounded_linear_work_in_the_number_of_files() {
    let parsed = |n: usize| {
        let (main, loader) = many(n);
        let gathered = gather("main.flow", &main, &loader);
        assert!(
            !gathered.diagnostics.has_errors(),
            "{n} files: {:?}",
            gathered.diagnostics
        );
        assert_eq!(gathered.files.len(), n);
        let lengths: usize = gathered.files.iter().map(|f| f.text.len()).sum();
        assert_eq!(gathered.parsed_bytes, lengths, "each file once, alone");
        gathered.parsed_bytes
    };
    let (few, lots) = (parsed(30), parsed(300));
    assert!(
        lots <= few * 11,
        "30 files parse {few} bytes, 300 parse {lots}: more than linear"
    );
    let (main, loader) = many(300);
    let (compiled, files) = compile("main.flow", &main, &loader);
    assert!(compiled.graph.is_some(), "{:?}", compiled.diagnostics);
    assert_eq!(files.len(), 300);
}

/// A mistake in the last of many files is reported at its place in that
/// file, as the renderer finds it from the shared offset space.
#[test]
fn a_mistake_in_the_three_hundredth_file_points_into_it() {
    let (main, mut loader) = many(300);
    let last = "model m = mock(echo: true)\nfn f(x: text) = ask m \"{nope}\"\n";
    loader.insert("lib/m299.flow", last);
    let (compiled, files) = compile("main.flow", &main, &loader);
    let file = files
        .iter()
        .find(|f| f.name.ends_with("m299.flow"))
        .unwrap_or_else(|| panic!("m299 read"));
    let label = compiled
        .diagnostics
        .iter()
        .find_map(|d| d.labels().and_then(|mut l| l.next()))
        .unwrap_or_else(|| panic!("an error: {:?}", compiled.diagnostics));
    let at = label.offset() - file.offset;
    let quoted = file.text.get(at..at + label.len()).unwrap_or_default();
    assert!(quoted.contains("nope"), "the label covers {quoted:?}");
}
