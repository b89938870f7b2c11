//! Weak topological ordering (Bourdoncle): the blocks of a function in an order where every
//! loop is a component headed by its entry block, nested components inside. The fixpoint
//! iterator stabilises each component at its head (the only place it widens) before moving on.
//!
//! Built by hierarchical decomposition into strongly connected components: the components of
//! the graph in topological order; inside each non-trivial one, its head (the block a
//! depth-first search from the entry reaches first) and the decomposition of the rest. The
//! recursion depth is the loop nesting depth, not the program length.

use crate::prelude::*;

use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, EdgeRef, NodeFiltered};

/// One element of a weak topological order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WtoElement {
    /// A block outside any loop (at this nesting level).
    Vertex(NodeIndex),
    /// A loop: its head, then the rest of its blocks in order.
    Component {
        /// The loop's entry block, where the iteration widens.
        head: NodeIndex,
        /// The other blocks, nested loops included.
        body: Vec<WtoElement>,
    },
}

/// The order of the blocks reachable from `entry`.
pub fn build<N, E>(graph: &DiGraph<N, E>, entry: NodeIndex) -> Vec<WtoElement> {
    let mut preorder = vec![usize::MAX; graph.node_count()];
    let mut reachable = vec![false; graph.node_count()];
    let mut dfs = Dfs::new(graph, entry);
    let mut counter = 0;
    while let Some(node) = dfs.next(graph) {
        preorder[node.index()] = counter;
        counter += 1;
        reachable[node.index()] = true;
    }
    decompose(graph, &reachable, &preorder)
}

fn decompose<N, E>(graph: &DiGraph<N, E>, nodes: &[bool], preorder: &[usize]) -> Vec<WtoElement> {
    let filtered = NodeFiltered::from_fn(graph, |n: NodeIndex| nodes[n.index()]);
    let mut components = kosaraju_scc(&filtered);
    components.retain(|c| c.iter().all(|n| nodes[n.index()]));
    // kosaraju_scc lists components in reverse topological order.
    components.reverse();
    let mut order = Vec::with_capacity(components.len());
    for component in components {
        let head = *component
            .iter()
            .min_by_key(|n| preorder[n.index()])
            .expect("components are not empty");
        let self_loop = graph.edges(head).any(|e| e.target() == head);
        if component.len() == 1 && !self_loop {
            order.push(WtoElement::Vertex(head));
            continue;
        }
        let mut rest = vec![false; graph.node_count()];
        for n in &component {
            if *n != head {
                rest[n.index()] = true;
            }
        }
        order.push(WtoElement::Component {
            head,
            body: decompose(graph, &rest, preorder),
        });
    }
    order
}

/// Calls `f` on every component head.
pub fn for_each_head(order: &[WtoElement], f: &mut impl FnMut(NodeIndex)) {
    for element in order {
        if let WtoElement::Component { head, body } = element {
            f(*head);
            for_each_head(body, f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: usize, edges: &[(usize, usize)]) -> DiGraph<(), ()> {
        let mut g = DiGraph::new();
        for _ in 0..n {
            g.add_node(());
        }
        for &(a, b) in edges {
            g.add_edge(NodeIndex::new(a), NodeIndex::new(b), ());
        }
        g
    }

    fn v(i: usize) -> WtoElement {
        WtoElement::Vertex(NodeIndex::new(i))
    }

    #[test]
    fn nested_loops_become_nested_components() {
        // 0 -> 1 -> 2 -> 3 -> 2, 3 -> 1, 1 -> 4; 5 unreachable
        let g = graph(6, &[(0, 1), (1, 2), (2, 3), (3, 2), (3, 1), (1, 4)]);
        let order = build(&g, NodeIndex::new(0));
        assert_eq!(
            order,
            vec![
                v(0),
                WtoElement::Component {
                    head: NodeIndex::new(1),
                    body: vec![WtoElement::Component {
                        head: NodeIndex::new(2),
                        body: vec![v(3)],
                    }],
                },
                v(4),
            ]
        );
    }

    #[test]
    fn self_loops_and_diamonds() {
        let g = graph(5, &[(0, 1), (0, 2), (1, 3), (2, 3), (3, 3), (3, 4)]);
        let order = build(&g, NodeIndex::new(0));
        assert_eq!(order.len(), 5);
        assert_eq!(order[0], v(0));
        assert!(
            matches!(order[3], WtoElement::Component { head, ref body } if head.index() == 3 && body.is_empty())
        );
        assert_eq!(order[4], v(4));
        let mut heads = Vec::new();
        for_each_head(&order, &mut |h| heads.push(h.index()));
        assert_eq!(heads, vec![3]);
    }
}
