import numpy as np


def init(shape: tuple) -> dict:
    """Optimizer state for one parameter vector: a velocity buffer."""
    return {"velocity": np.zeros(shape)}


def step(param: np.ndarray, grad: np.ndarray, state: dict, lr: float, t: int) -> tuple[np.ndarray, dict]:
    """SGD with heavy-ball momentum 0.9."""
    velocity = 0.9 * state["velocity"] + grad
    return param - lr * velocity, {"velocity": velocity}
