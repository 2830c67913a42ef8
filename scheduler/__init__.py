"""What is due when: calling windows, time zones, recurrence, retry rules, caps, DNC, explain.

Not built yet: this package is the home of the scheduler issue's work.
"""
