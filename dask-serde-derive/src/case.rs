//! The case conventions of `rename_all`: a Rust field name (snake_case)
//! or variant name (PascalCase) split into words and joined again.

/// The case conventions of `rename_all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameRule {
    /// `lowercase`: words concatenated, lower case.
    Lower,
    /// `UPPERCASE`: words concatenated, upper case.
    Upper,
    /// `PascalCase`: every word capitalized, concatenated.
    Pascal,
    /// `camelCase`: like `PascalCase` with the first word in lower case.
    Camel,
    /// `snake_case`: lower case words joined by `_`.
    Snake,
    /// `SCREAMING_SNAKE_CASE`: upper case words joined by `_`.
    ScreamingSnake,
    /// `kebab-case`: lower case words joined by `-`.
    Kebab,
    /// `SCREAMING-KEBAB-CASE`: upper case words joined by `-`.
    ScreamingKebab,
}

impl RenameRule {
    /// Every rule with its name in `rename_all = "..."`.
    pub const ALL: &'static [(&'static str, RenameRule)] = &[
        ("lowercase", RenameRule::Lower),
        ("UPPERCASE", RenameRule::Upper),
        ("PascalCase", RenameRule::Pascal),
        ("camelCase", RenameRule::Camel),
        ("snake_case", RenameRule::Snake),
        ("SCREAMING_SNAKE_CASE", RenameRule::ScreamingSnake),
        ("kebab-case", RenameRule::Kebab),
        ("SCREAMING-KEBAB-CASE", RenameRule::ScreamingKebab),
    ];

    /// The rule named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, r)| *r)
    }

    /// Applies the rule to a field name (snake_case in Rust).
    pub fn apply_to_field(self, field: &str) -> String {
        let words: Vec<&str> = field.split('_').filter(|w| !w.is_empty()).collect();
        self.join(&words)
    }

    /// Applies the rule to a variant name (PascalCase in Rust).
    pub fn apply_to_variant(self, variant: &str) -> String {
        let mut words: Vec<String> = Vec::new();
        for c in variant.chars() {
            if c.is_uppercase() || words.is_empty() {
                words.push(String::new());
            }
            if let Some(w) = words.last_mut() {
                w.extend(c.to_lowercase());
            }
        }
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        self.join(&refs)
    }

    /// Lower-cases `words` and joins them as the rule says.
    fn join(self, words: &[&str]) -> String {
        let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
        let cap = |w: &str| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        };
        match self {
            RenameRule::Lower => lower.concat(),
            RenameRule::Upper => lower.concat().to_uppercase(),
            RenameRule::Pascal => lower.iter().map(|w| cap(w)).collect(),
            RenameRule::Camel => lower
                .iter()
                .enumerate()
                .map(|(i, w)| if i == 0 { w.clone() } else { cap(w) })
                .collect(),
            RenameRule::Snake => lower.join("_"),
            RenameRule::ScreamingSnake => lower.join("_").to_uppercase(),
            RenameRule::Kebab => lower.join("-"),
            RenameRule::ScreamingKebab => lower.join("-").to_uppercase(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RenameRule;

    /// Every rule on a field name and on a variant name.
    #[test]
    fn rules() {
        let cases = [
            ("lowercase", "plainint", "fastpath"),
            ("UPPERCASE", "PLAININT", "FASTPATH"),
            ("PascalCase", "PlainInt", "FastPath"),
            ("camelCase", "plainInt", "fastPath"),
            ("snake_case", "plain_int", "fast_path"),
            ("SCREAMING_SNAKE_CASE", "PLAIN_INT", "FAST_PATH"),
            ("kebab-case", "plain-int", "fast-path"),
            ("SCREAMING-KEBAB-CASE", "PLAIN-INT", "FAST-PATH"),
        ];
        for (name, field, variant) in cases {
            let rule = RenameRule::parse(name).unwrap();
            assert_eq!(rule.apply_to_field("plain_int"), field, "{name}");
            assert_eq!(rule.apply_to_variant("FastPath"), variant, "{name}");
        }
        assert_eq!(RenameRule::parse("Snake"), None);
    }
}
