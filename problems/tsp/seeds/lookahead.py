import numpy as np


def select_next_node(current_node: int, destination_node: int, unvisited_nodes: np.ndarray, distance_matrix: np.ndarray) -> int:
    """Weighted look-ahead (a documented prior, in the spirit of the scoring rules EoH and ReEvo evolve): prefer a
    node close to the current one, penalise nodes far from the rest of the unvisited set (they would be hard to
    reach later), and mildly prefer nodes on the way back to the start. The weights are plain numbers for the
    tuner to adjust."""
    d_current = distance_matrix[current_node, unvisited_nodes]
    if len(unvisited_nodes) > 1:
        rest = distance_matrix[np.ix_(unvisited_nodes, unvisited_nodes)]
        d_rest = rest.sum(axis=1) / (len(unvisited_nodes) - 1)
    else:
        d_rest = np.zeros(1)
    d_start = distance_matrix[destination_node, unvisited_nodes]
    score = 1.0 * d_current + 0.3 * d_rest - 0.1 * d_start
    return int(unvisited_nodes[np.argmin(score)])
