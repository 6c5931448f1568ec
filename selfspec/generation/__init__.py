"""Self-generation: brainstormed instructions and inputs, filters, responses, retrieval, the recipe that joins them."""
