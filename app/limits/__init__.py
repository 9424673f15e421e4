"""Limits shared by every worker: the per-org query rate, agent queries in flight, Redis' breaker."""
