"""Trading layer: the `Strategy` API, `OrderFactory`, `Trader`, indicators, examples.

Modules: `config` (`StrategyConfig`), `strategy` (`Strategy`), `order_factory`
(`OrderFactory`), `trader` (`Trader`), `indicators` (`ExponentialMovingAverage`,
`SimpleMovingAverage`), `examples.ema_cross`, `examples.market_maker`. Nothing is
re-exported here, so importing a strategy config by path (the config loader does)
does not pull in the engines.
"""
