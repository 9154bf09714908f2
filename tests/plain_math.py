"""Plain-Python vector arithmetic (lists of floats) for the reference tests, which spell each
paper's equations out with explicit loops instead of the library's tensor code."""
import math


def matvec(w, v):
    return [sum(w[r][c] * v[c] for c in range(len(v))) for r in range(len(w))]


def add(*vs):
    return [sum(xs) for xs in zip(*vs)]


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def softmax(xs):
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    return [v / sum(e) for v in e]


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def rows(t):
    return t.detach().tolist()


def linear(layer, v):
    return add(matvec(rows(layer.weight), v), layer.bias.tolist())
