"""The sending core: schedule maths, dispatch, sending.

No routes except unsubscribe, no request context: the web, the jobs and the
CLI all call the same functions here.
"""
