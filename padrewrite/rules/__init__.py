"""All rewrite rules, in matching order. Adding a rule means adding one value here."""

from padrewrite.rules.adopt import ADOPT_PADDING
from padrewrite.rules.conv import CONV_CAUSAL, CONV_SAME, CONV_TRANSPOSE
from padrewrite.rules.pooling import POOLING_SAME
from padrewrite.rules.rule import MODEL_OUTPUT, CallSite, Leave, Rewrite, Rule, SameSpec
from padrewrite.rules.zero_padding import ZERO_PADDING

RULES: tuple[Rule, ...] = (
    CONV_SAME,
    CONV_CAUSAL,
    CONV_TRANSPOSE,
    ZERO_PADDING,
    POOLING_SAME,
    ADOPT_PADDING,
)
RULE_NAMES = tuple(rule.name for rule in RULES)

__all__ = ["RULES", "RULE_NAMES", "MODEL_OUTPUT", "CallSite", "Leave", "Rewrite", "Rule", "SameSpec"]
