"""The service layer: every change to a record goes through a function here.

Web pages and the JSON API both call these; neither holds a business rule.
Each function that changes a record writes, in one transaction, the change,
its trail row, any deadline it starts and any notification it causes.
"""
