//! The cap on repeats of one field in a selection set. GraphQL lets a request name a field
//! many times under different aliases, and async-graphql resolves every occurrence on its own:
//! 600 aliases of `events` would be 600 ClickHouse queries. This counts, in every selection
//! set of a parsed document, how often each field name occurs, through inline fragments and
//! fragment spreads (which merge into the set they sit in, a spread repeated counting each
//! time), before anything is validated or run.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Pos, Positioned};

/// Deepest chain of fragment spreads (a fragment spreading one that spreads one…) counted.
pub const MAX_FRAGMENT_NESTING: usize = 16;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A field name occurs more often than allowed in one selection set.
    Repeated {
        /// The field's name.
        field: String,
        /// How often it occurs there, aliases and fragments included.
        count: usize,
        /// Where the selection set starts.
        pos: Pos,
    },
    /// Fragment spreads are nested deeper than [`MAX_FRAGMENT_NESTING`].
    TooNested {
        /// The spread that went too deep.
        pos: Pos,
    },
}

/// Checks that no field name occurs more than `limit` times in any selection set of the
/// document. Unknown fragments and fragment cycles count as empty: validation refuses them.
pub fn check(document: &ExecutableDocument, limit: usize) -> Result<(), Refusal> {
    let mut counter = Counter {
        document,
        fragments: HashMap::new(),
        in_progress: HashSet::new(),
        limit,
    };
    for (_, operation) in document.operations.iter() {
        counter.check_set(&operation.node.selection_set)?;
    }
    for fragment in document.fragments.values() {
        counter.check_set(&fragment.node.selection_set)?;
    }
    Ok(())
}

/// How often each field name occurs in a selection set.
type Counts<'a> = HashMap<&'a str, usize>;

struct Counter<'a> {
    document: &'a ExecutableDocument,
    /// Each fragment's counts, computed once.
    fragments: HashMap<&'a str, Counts<'a>>,
    /// Fragments being counted, to stop at cycles.
    in_progress: HashSet<&'a str>,
    limit: usize,
}

impl<'a> Counter<'a> {
    /// Checks a selection set, then the sets of the fields written inside it.
    fn check_set(&mut self, set: &'a Positioned<SelectionSet>) -> Result<(), Refusal> {
        let mut counts = Counts::new();
        self.count(&set.node, 0, &mut counts)?;
        if let Some((field, count)) = counts
            .into_iter()
            .filter(|(_, count)| *count > self.limit)
            .max_by_key(|(_, count)| *count)
        {
            return Err(Refusal::Repeated {
                field: field.to_owned(),
                count,
                pos: set.pos,
            });
        }
        self.check_nested(&set.node)
    }

    /// Checks the sets of the fields written in `set`, including in its inline fragments;
    /// spread fragments are checked once, as fragment definitions.
    fn check_nested(&mut self, set: &'a SelectionSet) -> Result<(), Refusal> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) if !field.node.selection_set.node.items.is_empty() => {
                    self.check_set(&field.node.selection_set)?;
                }
                Selection::InlineFragment(inline) => {
                    self.check_nested(&inline.node.selection_set.node)?;
                }
                Selection::Field(_) | Selection::FragmentSpread(_) => {}
            }
        }
        Ok(())
    }

    /// Adds the field names of `set` to `counts`, through fragments; `nesting` is how many
    /// spreads deep `set` is.
    fn count(
        &mut self,
        set: &'a SelectionSet,
        nesting: usize,
        counts: &mut Counts<'a>,
    ) -> Result<(), Refusal> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => add(counts, field.node.name.node.as_str(), 1),
                Selection::InlineFragment(inline) => {
                    self.count(&inline.node.selection_set.node, nesting, counts)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    let spread_counts = self.fragment(name, spread.pos, nesting + 1)?;
                    for (field, count) in spread_counts {
                        add(counts, field, count);
                    }
                }
            }
        }
        Ok(())
    }

    /// The counts of a fragment's selection set, from the cache or counted now.
    fn fragment(
        &mut self,
        name: &'a Name,
        pos: Pos,
        nesting: usize,
    ) -> Result<Counts<'a>, Refusal> {
        if let Some(counts) = self.fragments.get(name.as_str()) {
            return Ok(counts.clone());
        }
        if nesting > MAX_FRAGMENT_NESTING {
            return Err(Refusal::TooNested { pos });
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return Ok(Counts::new());
        };
        if !self.in_progress.insert(name.as_str()) {
            return Ok(Counts::new());
        }
        let mut counts = Counts::new();
        let counted = self.count(&fragment.node.selection_set.node, nesting, &mut counts);
        self.in_progress.remove(name.as_str());
        counted?;
        self.fragments.insert(name.as_str(), counts.clone());
        Ok(counts)
    }
}

fn add<'a>(counts: &mut Counts<'a>, field: &'a str, count: usize) {
    let total = counts.entry(field).or_default();
    *total = total.saturating_add(count);
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn checked(query: &str, limit: usize) -> Result<(), Refusal> {
        check(&parse_query(query).expect("a valid document"), limit)
    }

    fn repeated(query: &str, limit: usize) -> Option<(String, usize)> {
        match checked(query, limit) {
            Err(Refusal::Repeated { field, count, .. }) => Some((field, count)),
            _ => None,
        }
    }

    fn aliases(count: usize, field: &str) -> String {
        (0..count)
            .map(|index| format!("a{index}: {field} "))
            .collect()
    }

    #[test]
    fn aliases_of_one_field_count_up_to_the_limit() {
        let ten = format!("{{ {} }}", aliases(10, "events { items { id } }"));
        assert_eq!(checked(&ten, 10), Ok(()));
        let eleven = format!("{{ {} }}", aliases(11, "events { items { id } }"));
        assert_eq!(repeated(&eleven, 10), Some(("events".to_owned(), 11)));
        let flood = format!("{{ {} }}", aliases(600, "events { items { id } }"));
        assert_eq!(repeated(&flood, 10), Some(("events".to_owned(), 600)));
        // Different fields do not add up, and neither do sets side by side.
        let mixed = format!(
            "{{ {} {} }}",
            aliases(10, "me { scope }"),
            aliases(10, "meters { key }")
        );
        assert_eq!(checked(&mixed, 10), Ok(()));
    }

    #[test]
    fn nested_sets_are_counted_each_on_their_own() {
        let nested = format!("{{ events {{ {} }} }}", aliases(11, "nextCursor"));
        assert_eq!(repeated(&nested, 10), Some(("nextCursor".to_owned(), 11)));
        let in_inline = format!(
            "{{ ... on QueryRoot {{ events {{ {} }} }} }}",
            aliases(11, "items { id }")
        );
        assert_eq!(repeated(&in_inline, 10), Some(("items".to_owned(), 11)));
        let many_sets = format!(
            "{{ {} }}",
            aliases(5, &format!("events {{ {} }}", aliases(10, "nextCursor")))
        );
        assert_eq!(checked(&many_sets, 10), Ok(()));
    }

    #[test]
    fn fragments_merge_into_the_set_they_are_spread_in() {
        let spreads = "{ ...F ...F ...F me { scope } } fragment F on QueryRoot { a: me { scope } b: me { scope } ... on QueryRoot { c: me { scope } } }";
        assert_eq!(repeated(spreads, 9), Some(("me".to_owned(), 10)));
        assert_eq!(checked(spreads, 10), Ok(()));
        let inside_fragment = format!(
            "{{ ...F }} fragment F on QueryRoot {{ {} }}",
            aliases(11, "quota { burst }")
        );
        assert_eq!(
            repeated(&inside_fragment, 10),
            Some(("quota".to_owned(), 11))
        );
        // A bomb of spreads is counted once per fragment, with saturating counts.
        let mut bomb = "{ ...F0 }".to_owned();
        for level in 0..12 {
            bomb.push_str(&format!(
                " fragment F{level} on QueryRoot {{ {} }}",
                (0..10)
                    .map(|_| format!("...F{} ", level + 1))
                    .collect::<String>()
            ));
        }
        bomb.push_str(" fragment F12 on QueryRoot { me { scope } }");
        assert!(matches!(repeated(&bomb, 10), Some((field, _)) if field == "me"));
    }

    #[test]
    fn cycles_unknown_fragments_and_deep_chains_never_loop() {
        let cycle = "{ ...A } fragment A on QueryRoot { ...B me { scope } } fragment B on QueryRoot { ...A }";
        assert_eq!(checked(cycle, 10), Ok(()));
        assert_eq!(checked("{ ...Missing }", 10), Ok(()));
        let mut chain = "{ ...F0 }".to_owned();
        for level in 0..40 {
            chain.push_str(&format!(
                " fragment F{level} on QueryRoot {{ ...F{} }}",
                level + 1
            ));
        }
        assert!(matches!(
            checked(&chain, 10),
            Err(Refusal::TooNested { .. })
        ));
    }
}
