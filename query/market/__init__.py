"""The market-data API's read side (issue 17), being built: one set of types for ticker, order
book, trades and candles whatever the source, its error tree, and the venues' REST limits.

``MarketData`` (routing between memory, the journal and REST; subscriptions; attach to a
running recorder) is not built yet: see the README's Status.
"""
