"""Customers and their service records (客户管理, 服务记录): the CRM core the agent desk's screen pop reads.

Kept in the record store's SQLite file (their own tables, their own connections), not the configuration
file: a million customers and their records are data, not configuration, and they travel with the records
in every backup. `service.CustomerService` is the one entry point; `http.py` puts it under `/api/v1`.
"""
