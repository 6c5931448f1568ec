"""The batched decoder every stage that makes a model write uses: brainstorming, responses, evaluation, experts."""
