"""placeholder"""
def sent_args(plan):
    return {}
