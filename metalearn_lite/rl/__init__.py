"""Meta-reinforcement learning on Bernoulli bandits (Duan et al. 2016, RL²); ``import metalearn_lite.rl``.

* tasks — :class:`BernoulliBanditEnv` (a Gymnasium environment, one trial at a time),
  :class:`BanditTasks` (seeded meta-train / meta-test streams of (batch, k) probabilities) and
  :func:`run_trials` (a policy over a batch of trials at once), :func:`evaluate` (mean total
  reward per trial ± 95% CI), :func:`expected_regret`;
* baselines — :class:`RandomArm`, :class:`UCB1`, :class:`Thompson`, :class:`EpsilonGreedy`
  (:func:`Greedy`), :class:`Gittins` (finite-horizon index), :class:`Oracle`;
* RL² — :class:`RL2Policy` (a GRU policy whose state spans one trial) and :func:`train_rl2` (A2C).

Not imported by ``import metalearn_lite``, which stays as light as it was.
"""
from .bandits import BanditPolicy, BanditTasks, BernoulliBanditEnv, Trials, evaluate, expected_regret, run_trials
from .baselines import EpsilonGreedy, Gittins, Greedy, Oracle, RandomArm, Thompson, UCB1
from .rl2 import RL2Policy, train_rl2

__all__ = [
    "BanditPolicy", "BanditTasks", "BernoulliBanditEnv", "EpsilonGreedy", "Gittins", "Greedy", "Oracle", "RL2Policy",
    "RandomArm", "Thompson", "Trials", "UCB1", "evaluate", "expected_regret", "run_trials", "train_rl2",
]
