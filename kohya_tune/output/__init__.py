"""Stage 6, output: show results to people and programs.

Holds: diagnostic formats (`lint_report`: concise, full, json, github, sarif), the steps
report (`steps_report`: the JSON contract and the worked example) and the balance report
(`balance_report`: its JSON contract, the table with bars). Output never computes a
number the engine did not.

May import: every earlier stage.
"""
