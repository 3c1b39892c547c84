"""Synthetic arrival processes and the job streams built on them."""
