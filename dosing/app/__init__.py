"""The application layer: one function per use case, the only way in for every entry point.

Each use case takes a validated form (what a person typed) and the :class:`~dosing.app.context.Context`
(the store and the authenticated actor), checks authority (:mod:`dosing.app.authority`), stamps the
change with the server clock (:mod:`dosing.app.clock`), runs one transaction in the store and audits
it. The CLI, the Prefect flows and the web pages only translate to and from these functions; none of
them decides who the actor is, what time it is, or whether a rule holds.
"""
